"""Warm start: a container from a snapshot image, ready, with its connection variables."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ContainerInfo
from iris_envs.errors import DockerOperationFailed, IrisEnvsError, NotReady
from iris_envs.instance.containers import Owner, container_name, iris_container_spec
from iris_envs.instance.readiness import WARM_CHECKS, wait_until_ready
from iris_envs.run.variables import connection_environment


@dataclass(frozen=True)
class Instance:
    """A running container of an environment's snapshot."""

    spec: EnvSpec
    container: ContainerInfo
    snapshot_ref: str
    start_seconds: float
    # The network this process shares with the container when it runs in a container of the
    # same engine (engine/network.py): IRIS is then reached at its address there.
    network: str | None = None

    @property
    def variables(self) -> dict[str, str]:
        """The IRIS_* variables for a process testing against this instance."""
        return connection_environment(
            self.spec, self.container, self.snapshot_ref, network=self.network
        )


def start_instance(
    engine: DockerEngine,
    spec: EnvSpec,
    snapshot_ref: str,
    *,
    owner: Owner,
    role: str = "run",
    name: str | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Instance:
    """Start a container of ``snapshot_ref`` and wait until ready; remove it if that fails."""
    started = time.monotonic()
    name = name or container_name(role, spec.name, owner)
    container_id = engine.create_container(
        iris_container_spec(snapshot_ref, spec, role=role, owner=owner, name=name)
    )
    try:
        engine.start(container_id)
        wait_until_ready(
            engine,
            container_id,
            timeout=spec.ready_timeout,
            checks=WARM_CHECKS,  # snapshots are verified at build time
            on_progress=on_progress,
        )
        network = engine.join_client_network(container_id)
        info = engine.inspect_container(container_id)
        if info is None:
            raise DockerOperationFailed(f"container {container_id[:12]} vanished after start")
    except IrisEnvsError as error:
        removed = _removed_meanwhile(engine, container_id, error)
        with suppress(IrisEnvsError):
            engine.remove_container(container_id)
        if removed:
            raise _taken_down(spec, role, name) from None
        raise
    except BaseException:
        with suppress(IrisEnvsError):
            engine.remove_container(container_id)
        raise
    return Instance(spec, info, snapshot_ref, time.monotonic() - started, network)


# The engine's words for a container that someone else is removing or has removed (logs:
# "can not get logs from container which is dead or marked for removal"; start: "... is marked
# for removal and cannot be started"; remove: "removal of container ... is already in progress").
_REMOVAL_WORDS = ("marked for removal", "removal in progress", "already in progress")


def _removed_meanwhile(engine: DockerEngine, container_id: str, error: IrisEnvsError) -> bool:
    """Whether the container is gone or going: removed by someone else while it started. A
    container being removed still inspects as "running" until its process is killed, so the
    engine's own words count too."""
    if any(words in str(error) for words in _REMOVAL_WORDS):
        return True
    try:
        info = engine.inspect_container(container_id)
    except IrisEnvsError:  # the engine itself failing is not a removal
        return False
    return info is None or info.status in ("removing", "dead")


def _taken_down(spec: EnvSpec, role: str, name: str) -> NotReady:
    """The error for a container removed while it started (issue 22 item 7): exit 6."""
    if role == "up":
        return NotReady(
            f"environment {spec.name} was taken down while `up` started it: its container "
            f"{name} was removed meanwhile (`iris-envs down`, `docker rm`)",
            hint=f"run `iris-envs up {spec.name}` again once nothing takes it down",
        )
    return NotReady(
        f"environment {spec.name}: its container {name} was removed while it started "
        "(`docker rm` or another process meanwhile)",
        hint="run again; check what removes iris-envs containers on this engine",
    )
