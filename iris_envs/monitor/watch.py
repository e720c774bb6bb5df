"""The one entry point the runner uses: monitor a command when the environment or --monitor
asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.monitor.sampler import Sampler
from iris_envs.monitor.systemperformance import Profile


class Watch:
    """What was monitored during one command; ``report()`` is None when nothing was."""

    def __init__(self, sampler: Sampler | None, profile: Profile | None = None) -> None:
        self._sampler, self._profile = sampler, profile

    def report(self) -> dict[str, Any] | None:
        if self._sampler is None:
            return None
        report = self._sampler.report()
        if self._profile is not None:
            report["systemperformance"] = {
                "runid": self._profile.runid or None,
                "report": self._profile.report,
                "problem": self._profile.problem or None,
            }
        return report


@contextmanager
def watch(
    engine: DockerEngine,
    spec: EnvSpec,
    container_id: str,
    *,
    output: Path,
    forced: bool = False,
) -> Iterator[Watch]:
    """Sample the instance around the body when ``spec.monitor`` or ``forced`` (--monitor);
    with ``monitor = "systemperformance"`` also record a profile, its report put in ``output``."""
    if not (spec.monitor or forced):
        yield Watch(None)
        return
    profile = None
    if spec.monitor == "systemperformance":
        profile = Profile(engine, container_id, spec.monitor_interval)
        profile.start()
    completed = False
    try:
        with Sampler(engine, container_id, spec) as sampler:
            yield Watch(sampler, profile)
        completed = True
    finally:
        if profile is not None:
            profile.finish(output if completed else None)
