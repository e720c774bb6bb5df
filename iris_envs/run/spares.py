"""Warm spare containers: started when a run ends, claimed (once) by the next run.

A spare is an ordinary container of a snapshot, started detached and labelled ``role=spare``
with the project and environment; it inherits the snapshot's key label from the image, and that
key, not the tag, decides whether a run may use it. The claimant renames the container to a
claimed name. A rename alone is not exclusive (the engine looks the old name up, then renames
whatever name the container has by then, so two racing renames of one spare both succeed), nor
is a lock file in the cache folder (separate CI jobs on one host have separate folders; issue 22
item 8). So the claimant first creates a claim token: a container, never started, named after
the spare. Container names are unique on an engine, and the engine reserves a name for one
container only, so of racing claimants exactly one creates it; the others get a conflict and
move on. The token is removed once the spare has its claimed name, when no one can find it by
its spare name any more. Labels cannot change after creation, so the claimed name carries the
claimant's pid (and its space tag): ``gc`` reads it to remove a claimed spare whose process died.
A claimed spare is used and removed exactly like a fresh container.
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
from iris_envs.config.values import ENV_FIELDS, spares_count
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ContainerInfo, ContainerSpec
from iris_envs.errors import ConfigError, DockerOperationFailed, IrisEnvsError, NotFoundInEngine
from iris_envs.instance.containers import (
    Owner,
    container_labels,
    container_name,
    iris_container_spec,
)
from iris_envs.instance.readiness import WARM_CHECKS, wait_until_ready
from iris_envs.run.instance import Instance

SPARE_ROLE = naming.SPARE_ROLE
SPARE_NAME_PREFIX = naming.SPARE_NAME_PREFIX  # what container_name(SPARE_ROLE, env) starts with
SPARES_VARIABLE = "IRIS_ENVS_SPARES"


def wanted_spares(spec: EnvSpec, override: int | None = None) -> int:
    """How many spares to keep: ``run --spares``, else $IRIS_ENVS_SPARES, else ``spares``."""
    if override is not None:
        return checked_spares(override, "--spares")
    raw = os.environ.get(SPARES_VARIABLE, "").strip()
    if not raw:
        return spec.spares
    return checked_spares(raw, SPARES_VARIABLE)


def checked_spares(value: int | str, source: str) -> int:
    """``value`` of ``--spares`` or $IRIS_ENVS_SPARES as a count, by the rule of the ``spares``
    setting (config/values.py); a ConfigError (exit 2) naming ``source`` otherwise."""
    count = spares_count(value)
    if count is None:
        shown = f"{source}={value!r}" if source == SPARES_VARIABLE else f"{source} {value}"
        raise ConfigError(
            f"{shown}: not {ENV_FIELDS['spares']}",
            hint=f"give {source} the number of warm spare containers to keep, e.g. 1",
        )
    return count


def _spare_name(spec: EnvSpec) -> str:
    return f"{container_name(SPARE_ROLE, spec.name)}-{uuid.uuid4().hex[:10]}"


def _claimed_name(spec: EnvSpec, owner: Owner) -> str:
    tag = naming.space_tag(owner.space)  # gc asks about the pid only in the claimant's space
    return f"{container_name('run', spec.name, owner)}-p{owner.pid}" + (f"-s{tag}" if tag else "")


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


def stale_reason(
    container: ContainerInfo, key: str | None, max_age: float, now: float, image_id: str = ""
) -> str:
    """Why an available spare must not be used ('' when it may): key, image, age or state.
    ``image_id`` is the snapshot being run: after `run --rebuild` the key is the same and the
    image is not (issue 22 item 9)."""
    if key is not None and container.labels.get(naming.LABEL_KEY) != key:
        return "its snapshot is not the environment's current one"
    if image_id and container.image_id and container.image_id != image_id:
        return "its snapshot was rebuilt since it started"
    if now - _started_at(container) > max_age:
        return f"it is older than {max_age / 3600:g} h"
    if container.status not in ("created", "running"):
        return f"it is {container.status}"
    return ""


def discard_stale(
    engine: DockerEngine,
    spec: EnvSpec,
    key: str,
    *,
    image_id: str = "",
    on_removed: Callable[[str], None],
) -> None:
    """Remove this environment's available spares that a run must not use, and a snapshot a
    rebuild replaced once its last spare is gone (untagged, it only held disk space)."""
    now = time.time()
    replaced = set()
    for container in _spares_of(engine, spec):
        if not is_available(container):
            continue
        reason = stale_reason(container, key, spec.spare_max_age, now, image_id)
        if reason:
            with suppress(IrisEnvsError):
                engine.remove_container(container.id)
                on_removed(f"removed spare {container.name}: {reason}")
                if container.image_id and container.image_id != image_id:
                    replaced.add(container.image_id)
    for old in replaced:
        with suppress(IrisEnvsError):  # in use elsewhere, or tagged: not ours to remove
            info = engine.inspect_image(old)
            if info is not None and not info.tags:
                engine.remove_image(old)  # not forced: the engine keeps one still in use
                on_removed(f"removed the snapshot it replaced ({old.removeprefix('sha256:')[:12]})")


def claim(
    engine: DockerEngine,
    spec: EnvSpec,
    snapshot_ref: str,
    key: str,
    *,
    owner: Owner,
    image_id: str = "",
    on_progress: Callable[[str], None] | None = None,
) -> Instance | None:
    """Claim one ready-or-starting spare of ``key`` (and of image ``image_id``, the snapshot
    being run) and wait for the rest of its start."""
    container = _rename_one(engine, spec, key, owner, image_id)
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
            container = _rename_one(engine, spec, key, owner, image_id)
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
    engine: DockerEngine, spec: EnvSpec, key: str, owner: Owner, image_id: str
) -> ContainerInfo | None:
    """Rename one available, current spare to this process's claimed name; None if none."""
    with _claim_lock(engine, spec):  # held for a list and a rename, never for the readiness wait
        now = time.time()
        candidates = [
            c
            for c in _spares_of(engine, spec)
            if is_available(c) and not stale_reason(c, key, spec.spare_max_age, now, image_id)
        ]
        for container in sorted(candidates, key=_started_at):  # the oldest is likeliest ready
            token = _claim_token(engine, spec, container, owner)
            if token is None:
                continue  # another claimant has it (a process of another cache folder)
            try:
                engine.rename(container.name, _claimed_name(spec, owner))
            except NotFoundInEngine:
                continue  # removed or claimed meanwhile: it has no spare name any more
            finally:
                with suppress(IrisEnvsError):  # else gc removes it (its owner is this process)
                    engine.remove_container(token)
            return container
    return None


CLAIM_ROLE = "claim"
CLAIM_NAME_PREFIX = "iris-envs-claim-"


def _claim_token(
    engine: DockerEngine, spec: EnvSpec, spare: ContainerInfo, owner: Owner
) -> str | None:
    """Create the claim token of ``spare`` (a container never started, of the spare's own
    image, named after the spare's id) and return its id; None when another claimant holds it."""
    token = ContainerSpec(
        image=spare.image_id or spare.image,
        name=CLAIM_NAME_PREFIX + spare.id[:12],
        labels=container_labels(CLAIM_ROLE, spec, owner),
        entrypoint=["true"],
    )
    try:
        return engine.create_container(token)
    except DockerOperationFailed as error:
        # The engine's words for a name another container has (HTTP 409): "Conflict. The
        # container name ... is already in use by container ...".
        if "already in use" in str(error) or "Conflict" in str(error):
            return None
        raise


def replenish(
    engine: DockerEngine,
    spec: EnvSpec,
    snapshot_ref: str,
    key: str,
    *,
    count: int,
    owner: Owner,
    image_id: str = "",
) -> list[str]:
    """Start spares until ``count`` available ones of ``key`` (and image ``image_id``) exist;
    do not wait for them."""
    available = [
        c
        for c in _spares_of(engine, spec)
        if is_available(c)
        and c.labels.get(naming.LABEL_KEY) == key
        and not (image_id and c.image_id and c.image_id != image_id)
    ]
    names = []
    for _ in range(max(0, count - len(available))):
        container_spec = iris_container_spec(
            snapshot_ref, spec, role=SPARE_ROLE, owner=owner, name=_spare_name(spec)
        )
        labels = {**container_spec.labels, naming.LABEL_SPARE_SINCE: str(int(time.time()))}
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


def collect_stale_spares(engine: DockerEngine, *, dry_run: bool = False) -> list[ContainerInfo]:
    """For ``gc``: remove every available spare past its age or whose snapshot image is gone
    (``dry_run``: return them, remove none).

    The age limit is the environment's ``spare_max_age``, unknown here: the default (24 h) is
    used, and each run applies its own configuration to its spares before claiming.
    """
    now = time.time()
    max_age = EnvSpec(name="gc").spare_max_age
    removed = []
    for container in engine.containers_by_label(
        {naming.LABEL_MANAGED: "true", naming.LABEL_ROLE: SPARE_ROLE}
    ):
        if not is_available(container):
            continue
        image_gone = engine.inspect_image(container.image) is None
        if image_gone or stale_reason(container, None, max_age, now):
            if dry_run:
                removed.append(container)
                continue
            with suppress(IrisEnvsError):
                engine.remove_container(container.id)
                removed.append(container)
    return removed
