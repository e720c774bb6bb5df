"""Ensure a snapshot image for an environment: cache lookup, or a locked, atomic, verified build.

The build (attempt.py runs its phases): base image -> build container -> ready (start.py) ->
users/namespace -> setup steps (prepare.py) -> clean stop from inside (clean_stop.py) -> commit
the container, IRIS stopped, untagged (commit.py) -> start the image once and check the test user
can log in, the build container removed meanwhile (verify.py) -> only then tag it. Any failure
or Ctrl-C removes the build container and the untagged image, so nothing half-built is ever
visible by tag.
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

from filelock import FileLock, Timeout

from iris_envs import bounded, naming
from iris_envs.build.attempt import build_snapshot
from iris_envs.build.image_age import community_license_warning, kit_build_time
from iris_envs.build.outcome import Snapshot
from iris_envs.build.pulled import pull_verified
from iris_envs.cache import index as snapshot_index
from iris_envs.cache import lookup
from iris_envs.cache.folder import cache_subdir
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ImageInfo
from iris_envs.errors import (
    BuildFailed,
    DockerOperationFailed,
    SnapshotRefused,
)
from iris_envs.instance.containers import (
    Owner,
)
from iris_envs.key.cache_key import BaseImage, compute_key, input_files
from iris_envs.key.explain import describe_changes, newest_snapshot, parse_files_label
from iris_envs.progress import Reporter, human_bytes
from iris_envs.share import registry
from iris_envs.share.registry import RemoteCache


def fits(info: ImageInfo, platform: str | None) -> bool:
    """Is the image the build ``platform`` asks for (any, when None; a variant is ignored)?"""
    return not platform or info.platform == "/".join(platform.split("/")[:2])


def ensure_base_image(engine: DockerEngine, spec: EnvSpec, reporter: Reporter) -> BaseImage:
    """Return the base image, pulling it (with per-layer byte progress) when absent, or when
    the environment's ``platform`` asks for another build than the one the engine has."""
    info = engine.inspect_image(spec.image)
    if info is not None and fits(info, spec.platform):
        return BaseImage(ref=spec.image, image_id=info.id, note="")
    local = info.platform if info is not None else None
    layers: dict[str, tuple[int, int]] = {}
    try:
        with reporter.step(f"pull {spec.image}") as handle:

            def progress(message: Any) -> None:
                detail = message.get("progressDetail") or {}
                if message.get("id") and detail.get("total"):
                    layers[message["id"]] = (int(detail.get("current", 0)), int(detail["total"]))
                    done = sum(c for c, _ in layers.values())
                    total = sum(t for _, t in layers.values())
                    handle.update(
                        f"{len(layers)} layers, {human_bytes(done)} of {human_bytes(total)}"
                    )

            info = engine.pull(spec.image, on_progress=progress, platform=spec.platform)
    except DockerOperationFailed as error:
        if local is not None:
            raise BuildFailed(
                f"environment {spec.name}: no {spec.platform} build of {spec.image} could be "
                f"pulled (the engine has its {local} build): {error}",
                hint=f"remove `platform` (or set it to {local}) to use the image the engine has, "
                "or load a build for that platform",
            ) from None
        enterprise = "containers.intersystems.com/intersystems/iris:" in spec.image
        hint = (
            "Enterprise images need `docker login containers.intersystems.com` with WRC credentials"
            if enterprise or spec.is_enterprise
            else "check the image name and tag, and that this machine can reach the registry "
            "(offline machines need the image loaded with `docker load` first)"
        )
        raise BuildFailed(
            f"environment {spec.name}: could not pull base image {spec.image}: {error}",
            hint=hint,
        ) from None
    if not fits(info, spec.platform):
        raise BuildFailed(
            f"environment {spec.name}: {spec.image} has no {spec.platform} build (the registry "
            f"sent {info.platform})",
            hint="remove `platform`, or use an image published for that platform",
        )
    return BaseImage(ref=spec.image, image_id=info.id, note="")


def current_key(engine: DockerEngine, spec: EnvSpec, reporter: Reporter) -> str:
    """The key ``spec``'s snapshot has now (the base image pulled if absent; nothing built)."""
    base = ensure_base_image(engine, spec, reporter)
    return compute_key(spec, base, spec.platform or engine.platform()).key


def find_cached(engine: DockerEngine, ref: str, key: str) -> ImageInfo | None:
    """The snapshot tagged ``ref`` if it really carries ``key`` (a tag alone could be stale)."""
    info = engine.inspect_image(ref)
    if info is not None and info.labels.get(naming.LABEL_KEY) == key:
        return info
    return None


def ensure_snapshot(
    engine: DockerEngine,
    spec: EnvSpec,
    *,
    owner: Owner,
    reporter: Reporter,
    rebuild: bool = False,
    keep_failed: bool = False,
    allow_build: bool = True,
    remote: RemoteCache | None = None,
) -> Snapshot:
    """Return the environment's snapshot, building it once (one build per key across processes).

    With ``remote`` a local miss first tries the registry for the exact key (registry.py), and
    ``remote.push`` publishes a snapshot built here.
    """
    started = time.monotonic()
    base = ensure_base_image(engine, spec, reporter)
    pulled = time.monotonic() - started
    _warn_about_license_age(engine, spec, base, reporter)
    result = compute_key(spec, base, spec.platform or engine.platform())
    ref = naming.snapshot_ref(spec.project_root, spec.name, result.key)

    cached = None if rebuild else _lookup(engine, spec, result.key, reporter)
    if cached is not None:
        return _cache_hit(spec, ref, result.key, cached, reporter)
    if remote is not None and not rebuild:  # remote cache (pulled.py): exact key, checked
        try:
            image = pull_verified(
                engine,
                spec,
                base=base,
                key=result.key,
                registry_address=remote.registry,
                owner=owner,
                reporter=reporter,
            )
        except SnapshotRefused as refusal:  # built here instead, as on a miss
            reporter.line(f"warning: {refusal.message}")
            image = None
        if image is not None:
            reason = f"the registry {remote.registry} has the snapshot with this key"
            return Snapshot(
                spec.name, ref, image.id, result.key, cached=True, pulled=True, reasons=[reason]
            )
    reasons = _why_rebuild(engine, spec, result.inputs, rebuild)
    if not allow_build:
        raise BuildFailed(
            f"environment {spec.name} has no snapshot for its current inputs ({ref})"
            + "".join(f"\n  - {reason}" for reason in reasons),
            hint=f"build it with `iris-envs build -e {spec.name}`, or drop --no-build",
        )

    lock_path = cache_subdir("locks") / f"{result.key}.lock"
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        reporter.line(f"waiting for another iris-envs process building {ref} (lock {lock_path})")
        lock.acquire()
    try:
        cached = None if rebuild else _lookup(engine, spec, result.key, reporter)
        if cached is not None:  # another process built it while we waited
            return _cache_hit(spec, ref, result.key, cached, reporter)
        for reason in reasons:
            reporter.line(f"building snapshot: {reason}")
        snapshot = build_snapshot(
            engine,
            spec,
            base=base,
            key=result.key,
            inputs=result.inputs,
            owner=owner,
            reporter=reporter,
            keep_failed=keep_failed,
        )
    finally:
        lock.release()
    if remote is not None and remote.push and not snapshot.cached:  # remote cache: publish
        registry.push_snapshot(
            engine, remote.registry, spec.name, result.key, reporter, project=spec.project_root
        )
    snapshot.timings = {"pull": pulled, **snapshot.timings}
    snapshot.reasons = reasons
    return snapshot


def pull_snapshot(
    engine: DockerEngine, spec: EnvSpec, registry_address: str, *, owner: Owner, reporter: Reporter
) -> tuple[str, ImageInfo | None]:
    """``cache pull``: the key ``run`` would use (base image pulled when absent) and its checked,
    verified snapshot from the registry (None on a miss; SnapshotRefused when it is refused)."""
    base = ensure_base_image(engine, spec, reporter)
    key = compute_key(spec, base, spec.platform or engine.platform()).key
    image = pull_verified(
        engine,
        spec,
        base=base,
        key=key,
        registry_address=registry_address,
        owner=owner,
        reporter=reporter,
    )
    return key, image


def _warn_about_license_age(
    engine: DockerEngine, spec: EnvSpec, base: BaseImage, reporter: Reporter
) -> None:
    """Community images stop working ~13 months after their build, and so do their snapshots."""
    if spec.is_enterprise:
        return
    info = engine.inspect_image(base.image_id or spec.image)
    built = kit_build_time(info.labels, info.created) if info else ""
    warning = community_license_warning(spec.image, built)
    if warning:
        reporter.line(f"warning: {warning}")


def _lookup(engine: DockerEngine, spec: EnvSpec, key: str, reporter: Reporter) -> ImageInfo | None:
    """The project's snapshot of ``key``; else another project's identical one, tagged as this
    project's too (cache/lookup.py: the same key is the same content, and each project's tag
    keeps the image alive for it); None on a miss."""
    own = lookup.own_snapshot(engine, spec.project_root, spec.name, key)
    if own is not None:
        return own
    shared = lookup.shareable_snapshot(engine, spec.name, key)
    if shared is None:
        return None
    adopted = lookup.adopt(engine, shared, spec.project_root, spec.name, key)
    if adopted is not None:
        reporter.line(f"snapshot of key {key[:12]} shared with {', '.join(shared.tags)}")
        with suppress(OSError, Timeout):
            snapshot_index.record_built(
                naming.snapshot_ref(spec.project_root, spec.name, key),
                env=spec.name,
                key=key,
                image_id=adopted.id,
                size=adopted.size,
            )
    return adopted


def _cache_hit(spec: EnvSpec, ref: str, key: str, info: ImageInfo, reporter: Reporter) -> Snapshot:
    created = info.labels.get(naming.LABEL_CREATED, "?")
    reporter.line(f"snapshot {ref} is cached (built {created})")
    with suppress(OSError, Timeout):
        snapshot_index.record_used(ref)
    reason = f"a snapshot with this key is here already (built {created})"
    return Snapshot(
        env=spec.name, ref=ref, image_id=info.id, key=key, cached=True, reasons=[reason]
    )


def _why_rebuild(
    engine: DockerEngine, spec: EnvSpec, inputs: dict[str, Any], rebuild: bool
) -> list[str]:
    """Explain a cache miss the way tox explains a recreate."""
    if rebuild:
        return ["--rebuild was given"]
    previous = newest_snapshot(engine, spec)
    if previous is None:
        return [f"no snapshot of {spec.name} exists yet"]
    try:
        old_inputs = bounded.loads(previous.labels.get(naming.LABEL_INPUTS, "{}"))
    except ValueError:
        return ["the newest snapshot's recorded inputs are unreadable"]
    changes = describe_changes(old_inputs, inputs, parse_files_label(previous), input_files(spec))
    return changes or ["the snapshot with this key was removed"]
