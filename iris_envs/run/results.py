"""What one environment of a run came to (EnvResult), as the summary and the reports show it,
and how the runner records each fact of it."""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from iris_envs import naming
from iris_envs.build.outcome import Snapshot
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import BuildFailed, IrisEnvsError, Where
from iris_envs.instance.messages import LogLine, notable_lines
from iris_envs.run import spares
from iris_envs.run.instance import Instance

# EnvResult.phase while a phase runs -> its key in EnvResult.timings
TIMED_PHASES = {
    "snapshot": "snapshot",
    "starting container": "start",
    "running command": "command",
}


@dataclass
class EnvResult:
    """Outcome of one environment, as the summary and the JSON report show it."""

    env: str
    status: str = "pending"  # passed | failed | error | interrupted
    exit_code: int = 0
    snapshot_state: str = "-"  # cached | built | -
    snapshot_ref: str = ""
    container_id: str = ""
    container_kept: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""
    output: str = ""
    iris_version: str = ""  # from the image's labels (naming.image_version)
    command: tuple[str, ...] = ()  # as run: the placeholders replaced
    image_id: str = ""  # the snapshot image's ID (a sha256 digest of its config)
    snapshot_key: str = ""
    snapshot_reasons: list[str] = field(default_factory=list)  # why cached, pulled or built
    build_timings: dict[str, float] = field(default_factory=dict)  # the build's phases
    build_log: str = ""  # the build attempt's log (built or failed to build), else ''
    spare: str = ""  # the warm spare the command ran in ('' when a container was started)
    where: Where | None = None  # the configuration line the error is about, when known
    iris_log: list[LogLine] = field(default_factory=list)  # its container's notable log lines
    iris_log_total: int = 0  # how many there were (iris_log keeps the first ones)
    monitoring: dict[str, Any] | None = None  # the monitor's report (monitor/sampler.py)
    phase: str = "waiting"  # what the status board shows while the environment runs
    started: float = field(default_factory=time.monotonic)


def record_snapshot(result: EnvResult, snapshot: Snapshot) -> None:
    """What the report says about the snapshot: which one, how it was had, and why."""
    result.snapshot_state, result.snapshot_ref = snapshot.state, snapshot.ref
    result.image_id, result.snapshot_key = snapshot.image_id, snapshot.key
    result.snapshot_reasons = list(snapshot.reasons)
    result.build_timings = dict(snapshot.timings)
    result.build_log = str(snapshot.log_path) if snapshot.log_path else ""


def record_instance(result: EnvResult, instance: Instance, reused: bool) -> None:
    """The container the command runs in, and the warm spare it was, if it was one."""
    result.container_id = instance.container.id
    if not reused and instance.container.labels.get(naming.LABEL_ROLE) == spares.SPARE_ROLE:
        result.spare = instance.container.name


def record_iris_log(engine: DockerEngine, result: EnvResult, instance: Instance) -> None:
    """The warnings, errors and license lines IRIS logged in the command's container."""
    with suppress(IrisEnvsError):  # the report does without; the run's result stands
        log = engine.logs(instance.container.id)
        result.iris_log, result.iris_log_total = notable_lines(log)


def record_error(result: EnvResult, error: IrisEnvsError, took: float) -> None:
    """An environment that ended in an error: its code, message, configuration line, build log,
    and how long the phase that failed took (a timeline shows it)."""
    phase = TIMED_PHASES.get(result.phase)
    if phase is not None:
        result.timings.setdefault(phase, took)
    result.status, result.exit_code = "error", int(error.exit_code)
    result.error, result.where = str(error), error.where
    if isinstance(error, BuildFailed) and error.build_log is not None:
        result.build_log = str(error.build_log)
