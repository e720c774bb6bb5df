"""A snapshot from the registry, used only once it passed the checks of share/trust.py and the
build's own verify step (verify.py): started once, ready, the test user logged in."""

from __future__ import annotations

from iris_envs.build.verify import verify_pulled
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ImageInfo
from iris_envs.errors import BuildFailed, NotReady, SnapshotRefused
from iris_envs.instance.containers import Owner
from iris_envs.key.cache_key import BaseImage
from iris_envs.progress import Reporter
from iris_envs.share import registry
from iris_envs.share.trust import Expected, check_snapshot

REFUSED_HINT = (
    "an image under a snapshot's registry tag is used only when it is that snapshot (docs/"
    "snapshots.md, 'Snapshots from elsewhere'); publish it again from a machine that built it "
    "(`iris-envs build --registry REG --push`), or build it here"
)


def pull_verified(
    engine: DockerEngine,
    spec: EnvSpec,
    *,
    base: BaseImage,
    key: str,
    registry_address: str,
    owner: Owner,
    reporter: Reporter,
) -> ImageInfo | None:
    """Pull the snapshot of exactly ``key``, check and verify it, and only then tag it.

    None on a registry miss; SnapshotRefused (nothing tagged, nothing of it left but what the
    engine had before) when the image is not this key's snapshot or does not pass verification.
    """
    remote = registry.remote_ref(registry_address, spec.name, key)
    with registry.pulled(engine, registry_address, spec.name, key, reporter) as info:
        if info is None:
            return None
        base_info = engine.inspect_image(base.image_id) if base.image_id else None
        expected = Expected(
            env=spec.name,
            key=key,
            base_id=base.image_id or "",
            base_layers=base_info.layers if base_info is not None else (),
        )
        check_snapshot(remote, info.labels, info.layers, expected, hint=REFUSED_HINT)
        try:
            with reporter.step("verify pulled snapshot"):
                verify_pulled(engine, spec, info.id, owner=owner, reporter=reporter)
        except (BuildFailed, NotReady) as failure:
            raise SnapshotRefused(
                f"{remote} refused: it did not pass verification: {failure.message}",
                hint=REFUSED_HINT,
            ) from None
        return registry.adopt(engine, info, spec.name, key, project=spec.project_root)
