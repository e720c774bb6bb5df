"""An OCI registry as a remote snapshot cache: pull the exact key before building, push after."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from filelock import Timeout

from iris_envs import naming
from iris_envs.cache import index as snapshot_index
from iris_envs.config.values import check_registry
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ImageInfo
from iris_envs.errors import DockerOperationFailed, IrisEnvsError
from iris_envs.progress import Reporter, human_bytes

REGISTRY_ENV = "IRIS_ENVS_REGISTRY"


@dataclass(frozen=True)
class RemoteCache:
    """Where snapshots are shared, and whether newly built ones are published there."""

    registry: str
    push: bool = False


def resolve_registry(
    option: str | None, configured: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """``--registry`` beats ``IRIS_ENVS_REGISTRY`` beats the configuration's ``cache.registry``."""
    environ = os.environ if environ is None else environ
    if option:
        return check_registry(option, "--registry")
    if environ.get(REGISTRY_ENV):
        return check_registry(environ[REGISTRY_ENV], REGISTRY_ENV)
    return configured  # validated when the configuration was loaded


def remote_ref(registry: str, env_name: str, key: str) -> str:
    """``REG/iris-envs/<env>:<key>``: the FULL 64-digit key, so only the exact key can match."""
    return f"{registry}/{naming.snapshot_repository(env_name)}:{key}"


def _progress(handle: Any) -> Any:
    layers: dict[str, tuple[int, int]] = {}

    def update(message: Mapping[str, Any]) -> None:
        detail = message.get("progressDetail") or {}
        if message.get("id") and detail.get("total"):
            layers[str(message["id"])] = (int(detail.get("current", 0)), int(detail["total"]))
            done = sum(c for c, _ in layers.values())
            total = sum(t for _, t in layers.values())
            handle.update(f"{len(layers)} layers, {human_bytes(done)} of {human_bytes(total)}")

    return update


def is_miss(error: DockerOperationFailed, remote: str) -> bool:
    """Whether a failed pull says the image is not there (rather than the registry being down).

    The reference is cut out of the message first: a 64-digit key or a registry path can hold
    "404" or "not found" itself (a key with "404" in it once turned a refused connection into
    a "miss" with no warning).
    """
    text = str(error).replace(remote, "").replace(remote.rpartition(":")[2], "").lower()
    return bool(re.search(r"manifest unknown|not found|does not exist|\b404\b", text))


def _pull(engine: DockerEngine, registry: str, remote: str, reporter: Reporter) -> ImageInfo | None:
    try:
        with reporter.step(f"pull {remote}") as handle:
            return engine.pull(remote, on_progress=_progress(handle))
    except DockerOperationFailed as error:
        if is_miss(error, remote):
            reporter.line(f"registry miss: {remote} does not exist")
        else:
            reporter.line(f"warning: registry {registry} unavailable, building instead: {error}")
        return None


@contextmanager
def pulled(
    engine: DockerEngine, registry: str, env_name: str, key: str, reporter: Reporter
) -> Iterator[ImageInfo | None]:
    """Pull the image tagged with exactly ``key``; yield it (None on a miss), untagged locally.

    A registry that cannot be reached (or refuses the login) is reported and treated as a miss,
    as a remote build cache does: the snapshot is then built locally. The image is not used by
    any name of iris-envs until the caller has checked it and ``adopt`` tags it. Afterwards only
    the registry-named tag this pull made is removed, never an image by ID: what came under the
    key's tag can be any image, the base image or another project's snapshot included.
    """
    remote = remote_ref(registry, env_name, key)
    existed = engine.inspect_image(remote) is not None  # a name someone else made is theirs
    info = _pull(engine, registry, remote, reporter)
    try:
        yield info
    finally:
        if info is not None and not existed:
            with suppress(IrisEnvsError):
                engine.remove_image(remote)  # untags; the image goes only if nothing else names it


def adopt(
    engine: DockerEngine, info: ImageInfo, env_name: str, key: str, *, project: str | PurePath
) -> ImageInfo:
    """Tag a checked, verified pulled snapshot as ``project``'s snapshot of the key (and its
    ``latest``), and index it."""
    local = naming.snapshot_ref(project, env_name, key)  # the pulling project's own name
    engine.tag(info.id, local)
    engine.tag(info.id, naming.latest_ref(project, env_name))
    with suppress(OSError, Timeout):
        snapshot_index.record_built(local, env=env_name, key=key, image_id=info.id, size=info.size)
    return engine.inspect_image(local) or info


def push_snapshot(
    engine: DockerEngine,
    registry: str,
    env_name: str,
    key: str,
    reporter: Reporter,
    *,
    project: str | PurePath,
) -> str:
    """Publish ``project``'s local snapshot of ``key`` as ``REG/iris-envs/<env>:<key>`` (a
    project-independent name); return its ref."""
    local = naming.snapshot_ref(project, env_name, key)
    info = engine.inspect_image(local)
    if info is None or info.labels.get(naming.LABEL_KEY) != key:
        raise DockerOperationFailed(
            f"no local snapshot {local} to push", hint=f"build it: iris-envs build -e {env_name}"
        )
    remote = remote_ref(registry, env_name, key)
    engine.tag(info.id, remote)
    try:
        with reporter.step(f"push {remote}") as handle:
            engine.push(remote, on_progress=_progress(handle))
    except DockerOperationFailed as error:
        raise DockerOperationFailed(
            f"could not push {remote}: {error.message}",
            hint=f"log in with `docker login {registry.split('/', maxsplit=1)[0]}` (iris-envs "
            "never reads credentials from its configuration); check the registry is reachable",
        ) from None
    finally:
        with suppress(IrisEnvsError):
            engine.remove_image(remote)
    return remote
