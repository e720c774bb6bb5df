"""Wait until an IRIS container is ready: small checks evaluated in order by one poll loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import DockerOperationFailed, NotReady
from iris_envs.instance.objectscript import IRIS_OWNER, ScriptFailed, run_session

LOG_TAIL_LINES = 25

# Lines that mean waiting longer is pointless (ADOCK; iris-facts.md "Readiness"). The license
# failure makes IRIS shut down and the container exit, so they are looked for after an exit too.
FATAL_LOG_LINES: dict[str, str] = {
    "Invalid Community Edition license": (
        "the Community Edition refused to start its license. The usual cause is an image more "
        "than about 13 months old: the community license expires that long after the image was "
        "built, and every snapshot of the image with it; pull a newer tag. Less often it is the "
        "20-core limit: run on a machine (or with --cpuset-cpus) with fewer cores, or use an "
        "enterprise image with a license key"
    ),
    "exceeded core limit": (
        "the license's core limit is exceeded: run on fewer cores or use a larger license"
    ),
}


class ReadinessCheck(Protocol):
    """One condition of readiness; checks run in order and each must pass once."""

    @property
    def description(self) -> str:
        """What is being waited for, as progress lines and timeouts name it."""
        ...

    def passed(self, engine: DockerEngine, container_id: str) -> bool:
        """Return True when satisfied (exceptions count as not yet)."""
        ...


@dataclass(frozen=True)
class LogMessage:
    """The container log contains a line (testcontainers-iris waits for 'Enabling logons')."""

    text: str = "Enabling logons"

    @property
    def description(self) -> str:
        return f"log line {self.text!r}"

    def passed(self, engine: DockerEngine, container_id: str) -> bool:
        return self.text in engine.logs(container_id)


@dataclass(frozen=True)
class QlistRunning:
    """``iris qlist`` reports the instance as running."""

    description: str = "iris qlist reports running"

    def passed(self, engine: DockerEngine, container_id: str) -> bool:
        result = engine.exec(container_id, ["iris", "qlist"], user=IRIS_OWNER, timeout=30)
        fields = result.output.strip().split("^")
        return result.exit_code == 0 and len(fields) > 3 and fields[3].startswith("running")


@dataclass(frozen=True)
class SessionProbe:
    """A marker-checked ``iris session`` round trip succeeds: logons really work."""

    namespace: str = "%SYS"
    description: str = "iris session answers"

    def passed(self, engine: DockerEngine, container_id: str) -> bool:
        try:
            run_session(engine, container_id, [], namespace=self.namespace, timeout=60)
        except ScriptFailed:
            return False
        return True


DEFAULT_CHECKS: tuple[ReadinessCheck, ...] = (LogMessage(), QlistRunning(), SessionProbe())
# A container of a committed snapshot (its verify start, run, up, spares): the build container
# already passed `iris qlist` on the same files, and `iris qlist` is redundant there, because
# `iris session` only answers while the instance runs, so the session probe proves it (one exec
# fewer per start). The log line stays: it is cheap, and it keeps the probe from exec'ing into an
# instance that is still recovering. Build containers keep all three: their base image is unknown.
WARM_CHECKS: tuple[ReadinessCheck, ...] = (LogMessage(), SessionProbe())


def wait_until_ready(
    engine: DockerEngine,
    container_id: str,
    *,
    timeout: float,
    checks: Sequence[ReadinessCheck] = DEFAULT_CHECKS,
    interval: float = 0.1,  # each start waits half of it on average; a round is 3 requests
    on_progress: Callable[[str], None] | None = None,
) -> float:
    """Poll until every check has passed; return the seconds waited or raise NotReady."""
    started = time.monotonic()
    deadline = started + timeout
    pending = list(checks)
    while pending:
        state = engine.inspect_container(container_id)
        if state is None:
            raise NotReady("the container disappeared before it became ready")
        logs = engine.logs(container_id, tail=200)
        for needle, explanation in FATAL_LOG_LINES.items():
            if needle in logs:
                raise NotReady(explanation + _log_tail(engine, container_id, True))
        if not state.running:
            raise NotReady(
                f"the container exited with code {state.exit_code} before it became ready"
                + _log_tail(engine, container_id, True)
            )
        try:
            while pending and pending[0].passed(engine, container_id):
                if on_progress is not None:
                    on_progress(pending[0].description)
                pending.pop(0)
        except DockerOperationFailed:
            pass  # e.g. exec into a container that is still starting: try again next round
        if not pending:
            break
        if time.monotonic() >= deadline:
            raise NotReady(
                f"the container was not ready after {timeout:g} s (waiting for "
                f"{pending[0].description}); raise ready_timeout if IRIS needs longer"
                + _log_tail(engine, container_id, True)
            )
        time.sleep(interval)
    return time.monotonic() - started


def _log_tail(engine: DockerEngine, container_id: str, exists: bool) -> str:
    """The container's last log lines, so a timeout shows why instead of just that."""
    if not exists:
        return ""
    try:
        tail = engine.logs(container_id, tail=LOG_TAIL_LINES).rstrip()
    except DockerOperationFailed:
        return ""
    if not tail:
        return "\n  (the container logged nothing)"
    indented = "\n".join("    " + line for line in tail.splitlines())
    return f"\n  last {LOG_TAIL_LINES} log lines:\n{indented}"
