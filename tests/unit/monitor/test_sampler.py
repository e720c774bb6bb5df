"""The sampler's parsing, deltas, pressure backoff and failure handling, with a fake engine."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, cast

import pytest

from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ExecResult
from iris_envs.errors import DockerOperationFailed
from iris_envs.monitor import sampler as sampler_module
from iris_envs.monitor.recipe import SAMPLE_BODY, parse_sample, sample_command
from iris_envs.monitor.sampler import Sampler


def _answer(stdin: bytes, values: Sequence[int], memory_kb: int = 8_000_000) -> str:
    """What the stand-in or IRIS prints for one sample: the probe line, then a captured body."""
    nonce = re.search(rb"IRIS-ENVS-OK-([0-9a-f]+)", stdin)
    assert nonce is not None
    n = nonce.group(1).decode()
    body = "IRIS-ENVS-M|" + "".join(f"{v}|" for v in values)
    out = f"IRIS-ENVS-OUT-{n}<{body}\n>IRIS-ENVS-OUT-{n}"
    return f"IRIS-ENVS-P|{memory_kb}|50000000|\n%SYS>{out}\nIRIS-ENVS-OK-{n}\n"


class FakeEngine:
    """Answers each sample with the next counters (or raises / stays silent when told)."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers, self.calls = answers, 0

    def exec(
        self,
        container_id: str,
        command: Sequence[str],
        *,
        user: str = "",
        environment: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        assert command == sample_command() and user == "irisowner" and stdin is not None
        assert environment is not None and "IRIS_ENVS_MIN_MEMORY_KB" in environment
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, str):
            return ExecResult(0, answer)
        values, memory_kb = answer
        return ExecResult(0, _answer(stdin, values, memory_kb))


SPEC = replace(EnvSpec(name="e", image="i"), monitor="sampling", monitor_interval=0.2)


def _sampler(engine: FakeEngine, spec: EnvSpec = SPEC) -> Sampler:
    return Sampler(cast(DockerEngine, engine), "c1", spec)


def counters(refs: int, updates: int, commands: int = 0) -> list[int]:
    # RefLocal, RefPrivate, RefRemote, RefUpdate*, JrnEntries, PhysBlock*, RtnCommands, LU
    return [refs, 1, 0, updates, 0, 0, updates, 0, 0, commands, 1]


def test_the_body_writes_every_field_the_parser_expects() -> None:
    written = SAMPLE_BODY[1]
    assert written.count('"|"') == 11  # 11 fields, each followed by a separator
    assert "SYS.Stats.Global" in SAMPLE_BODY[0] and "SYS.Stats.Routine" in SAMPLE_BODY[0]


def test_deltas_are_the_last_sample_minus_the_first() -> None:
    engine = FakeEngine([(counters(100, 10, 5), 8_000_000), (counters(350, 60, 90), 8_000_000)])
    sampler = _sampler(engine)
    with sampler:
        pass  # the sample at the start and at the end
    report = sampler.report()
    assert report["deltas"]["global_references"] == 250  # RefPrivate is added in too (1 - 1)
    assert report["deltas"]["global_updates"] == 50
    assert report["deltas"]["routine_commands"] == 85
    assert report["gauges"]["license_units"] == {"min": 1, "max": 1, "last": 1}


def test_under_pressure_the_session_is_skipped_and_the_interval_doubles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    low = (counters(1, 1), 100)  # 100 KiB free: under the 256 MB default
    engine = FakeEngine([low])
    waits: list[float] = []
    sampler = _sampler(engine)

    def fake_wait(timeout: float) -> bool:
        waits.append(timeout)
        return len(waits) > 5

    monkeypatch.setattr(sampler._stop, "wait", fake_wait)
    with sampler:
        sampler._thread.join()
    report = sampler.report()
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4]
    assert report["samples"] == [] and len(report["pressure"]) == 6 + 1
    assert report["pressure"][0]["reason"] == "free memory 0 MB < 256 MB"
    assert report["stopped"] is None


def test_failing_samples_stop_the_sampler_but_never_raise() -> None:
    boom = DockerOperationFailed("exec failed: engine gone")
    engine = FakeEngine([boom])
    sampler = _sampler(engine)
    with sampler:
        sampler._stop.wait(1.5)
    report = sampler.report()
    assert report["stopped"] is not None and "engine gone" in report["stopped"]
    assert report["failed"] == sampler_module.MAX_FAILURES
    assert engine.calls == sampler_module.MAX_FAILURES  # nothing more once stopped


def test_a_session_error_counts_as_a_failed_sample() -> None:
    broken = "IRIS-ENVS-P|8000000|5000000|\n%SYS>\n<CLASS DOES NOT EXIST> *SYS.Stats.Global\n"
    reading = parse_sample(broken, "abc")
    assert reading.free_memory == 8_000_000 * 1024 and reading.metrics is None
    engine = FakeEngine([broken])
    with _sampler(engine) as sampler:
        pass
    assert sampler.report()["failed"] == 2 and sampler.report()["stopped"] is None


def test_many_samples_are_thinned_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampler_module, "MAX_KEPT", 10)
    sampler = _sampler(FakeEngine([(counters(1, 1), 8_000_000)]))
    for i in range(100):
        sampler._keep(float(i), {"global_references": i})
    kept = sampler._record.samples
    assert 5 <= len(kept) <= 10 and kept[0][0] == 0.0
    assert sampler._record.last == {"global_references": 99}
