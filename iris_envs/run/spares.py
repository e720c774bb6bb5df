"""Warm spare containers: started when a run ends, claimed (once) by the next run.

A spare is an ordinary container of a snapshot, started detached and labelled ``role=spare``
with the project and environment; it inherits the snapshot's key label from the image, and that
key, not the tag, decides whether a run may use it. The claimant renames the container to a
claimed name under a per-project, per-environment lock file: the engine alone does not make a
rename exclusive (it looks the old name up, then renames whatever name the container has by
then, so two racing renames of one spare both succeed; seen in a loaded test run). Labels cannot
change after creation, so the claimed name carries the claimant's pid: ``gc`` reads it to remove
a claimed spare whose process died. A claimed spare is used and removed exactly like a fresh
container.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace

from filelock import FileLock

from iris_envs import naming
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ContainerInfo
from iris_envs.errors import ConfigError, IrisEnvsError, NotFoundInEngine
from iris_envs.instance.containers import Owner, container_name, iris_container_spec
from iris_envs.instance.readiness import WARM_CHECKS, wait_until_ready
from iris_envs.run.instance import Instance

SPARE_ROLE = naming.SPARE_ROLE
SPARE_NAME_PREFIX = naming.SPARE_NAME_PREFIX  # what container_name(SPARE_ROLE, env) starts with
SPARES_VARIABLE = "IRIS_ENVS_SPARES"


def wanted_spares(spec: EnvSpec, override: int | None = None) -> int:
    """How many spares to keep: ``run --spares``, else $IRIS_ENVS_SPARES, else ``spares``."""
    if override is not None:
        return override
    raw = os.environ.get(SPARES_VARIABLE, "").strip()
    if not raw:
        return spec.spares
    if not raw.isdigit():
        raise ConfigError(
            f"{SPARES_VARIABLE}={raw!r} is not a whole number",
            hint=f"set {SPARES_VARIABLE} to the number of spare containers to keep, e.g. 1",
        )
    return int(raw)


def _spare_name(spec: EnvSpec) -> str:
    return f"{container_name(SPARE_ROLE, spec.name)}-{uuid.uuid4().hex[:10]}"


def _claimed_name(spec: EnvSpec, owner: Owner) -> str:
    return f"{container_name('run', spec.name, owner)}-p{owner.pid}"


def is_available(container: ContainerInfo) -> bool:
    """An unclaimed spare (it still has its spare name)."""
    return container.labels.get(naming.LABEL_ROLE) == SPARE_ROLE and container.name.startswith(
        SPARE_NAME_PREFIX
    )


def claimant_pid(container: ContainerInfo) -> int | None:
    """The pid of the process that claimed this spare, or None (not a claimed spare)."""
    return naming.spare_claimant_pid(container.labels, container.name)


def _spares_of(engine: DockerEngine, spec: EnvSpec) -> list[ContainerInfo]:
    """This project's spares of this environment (claimed or not)."""
    return engine.containers_by_label(
        {
            naming.LABEL_MANAGED: "true",
            naming.LABEL_ROLE: SPARE_ROLE,
            naming.LABEL_ENV: spec.name,
            naming.LABEL_PROJECT: str(spec.project_root),
        }
    )


def _started_at(container: ContainerInfo) -> float:
    try:
        return float(container.labels.get(naming.LABEL_SPARE_SINCE, "0"))
    except ValueError:
        return 0.0


def stale_reason(container: ContainerInfo, key: str | None, max_age: float, now: float) -> str:
    """Why an available spare must not be used ('' when it may): key, age or state."""
    if key is not None and container.labels.get(naming.LABEL_KEY) != key:
        return "its snapshot is not the environment's current one"
    if now - _started_at(container) > max_age:
        return f"it is older than {max_age / 3600:g} h"
    if container.status not in ("created", "running"):
        return f"it is {container.status}"
    return ""


def discard_stale(
    engine: DockerEngine, spec: EnvSpec, key: str, *, on_removed: Callable[[str], None]
) -> None:
    """Remove this environment's available spares that a run must not use."""
    now = time.time()
    for container in _spares_of(engine, spec):
        if not is_available(container):
            continue
        reason = stale_reason(container, key, spec.spare_max_age, now)
        if reason:
            with suppress(IrisEnvsError):
                engine.remove_container(container.id)
                on_removed(f"removed spare {container.name}: {reason}")


def claim(
    engine: DockerEngine,
    spec: EnvSpec,
    snapshot_ref: str,
    key: str,
    *,
    owner: Owner,
    on_progress: Callable[[str], None] | None = None,
) -> Instance | None:
    """Claim one ready-or-starting spare of ``key`` and wait for the rest of its start."""
    container = _rename_one(engine, spec, key, owner)
    while container is not None:
        started = time.monotonic()
        try:
            wait_until_ready(
                engine,
                container.id,
                timeout=spec.ready_timeout,
                checks=WARM_CHECKS,
                on_progress=on_progress,
            )
            network = engine.join_client_network(container.id)  # in a container: engine/network
            info = engine.inspect_container(container.id)
        except BaseException:
            with suppress(IrisEnvsError):
                engine.remove_container(container.id)
            raise
        if info is None:  # removed meanwhile (gc): try the next one
            container = _rename_one(engine, spec, key, owner)
            continue
        return Instance(spec, info, snapshot_ref, time.monotonic() - started, network)
    return None


def _claim_lock(engine: DockerEngine, spec: EnvSpec) -> FileLock:
    """The lock file that makes claiming this project's spares of this environment exclusive
    (per engine: the same project on two engines has two sets of spares)."""
    from iris_envs.cache.folder import cache_subdir

    scope = f"{engine.endpoint.host}\0{spec.project_root}\0{spec.name}"
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    return FileLock(str(cache_subdir("locks") / f"spares-{digest}.lock"))


def _rename_one(
    engine: DockerEngine, spec: EnvSpec, key: str, owner: Owner
) -> ContainerInfo | None:
    """Rename one available, current spare to this process's claimed name; None if none."""
    with _claim_lock(engine, spec):  # held for a list and a rename, never for the readiness wait
        now = time.time()
        candidates = [
            c
            for c in _spares_of(engine, spec)
            if is_available(c) and not stale_reason(c, key, spec.spare_max_age, now)
        ]
        for container in sorted(candidates, key=_started_at):  # the oldest is likeliest ready
            claimed = _claimed_name(spec, owner)
            try:
                engine.rename(container.name, claimed)
            except NotFoundInEngine:
                continue  # removed or claimed meanwhile (a process of another cache folder)
            return container
    return None


def replenish(
    engine: DockerEngine, spec: EnvSpec, snapshot_ref: str, key: str, *, count: int, owner: Owner
) -> list[str]:
    """Start spares until ``count`` available ones of ``key`` exist; do not wait for them."""
    available = [
        c
        for c in _spares_of(engine, spec)
        if is_available(c) and c.labels.get(naming.LABEL_KEY) == key
    ]
    names = []
    for _ in range(max(0, count - len(available))):
        container_spec = iris_container_spec(
            snapshot_ref, spec, role=SPARE_ROLE, owner=owner, name=_spare_name(spec)
        )
        labels = {
            **container_spec.labels,
            naming.LABEL_SPARE_SINCE: str(int(time.time())),
            # Its project's own limit, so that `gc` (from any project) judges it by that.
            naming.LABEL_SPARE_MAX_AGE: f"{spec.spare_max_age:g}",
        }
        container_id = engine.create_container(replace(container_spec, labels=labels))
        try:
            engine.start(container_id)
        except BaseException:
            with suppress(IrisEnvsError):
                engine.remove_container(container_id)
            raise
        names.append(container_spec.name or container_id[:12])
    return names


def remove_spares(engine: DockerEngine, spec: EnvSpec) -> list[str]:
    """Remove this environment's available spares (``down --spares``); return their names."""
    removed = []
    for container in _spares_of(engine, spec):
        if is_available(container):
            with suppress(IrisEnvsError):
                engine.remove_container(container.id)
                removed.append(container.name)
    return removed


def spare_max_age(container: ContainerInfo) -> float:
    """The ``spare_max_age`` of the spare's own environment, which it carries as a label (the
    default, 24 h, for a spare started before the label existed)."""
    try:
        age = float(container.labels.get(naming.LABEL_SPARE_MAX_AGE, ""))
    except ValueError:
        return EnvSpec(name="gc").spare_max_age
    return age if age > 0 else EnvSpec(name="gc").spare_max_age


def collect_stale_spares(engine: DockerEngine) -> list[ContainerInfo]:
    """For ``gc``: remove every available spare that no run of its project would ever use: past
    its own environment's ``spare_max_age``, stopped, or of a snapshot image that is gone.
    """
    now = time.time()
    removed = []
    for container in engine.containers_by_label(
        {naming.LABEL_MANAGED: "true", naming.LABEL_ROLE: SPARE_ROLE}
    ):
        if not is_available(container):
            continue
        image_gone = engine.inspect_image(container.image) is None
        if image_gone or stale_reason(container, None, spare_max_age(container), now):
            with suppress(IrisEnvsError):
                engine.remove_container(container.id)
                removed.append(container)
    return removed
