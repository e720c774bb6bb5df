"""The ^SystemPerformance profile: the generated ObjectScript and what a run records."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ExecResult
from iris_envs.monitor.systemperformance import (
    PROFILE_SECONDS,
    Profile,
    parse_answer,
    profile,
    start_body,
    stop_body,
)


def test_a_profile_is_unique_and_sized_to_what_sys_performance_accepts() -> None:
    name, interval, count = profile(1.0)
    assert re.fullmatch(r"irisenvs[0-9a-f]{6}", name) and name != profile(1.0)[0]
    # 1 s only for profiles of an hour or less (GCM_systemperf): one hour at 1 s.
    assert (interval, count) == (1, PROFILE_SECONDS)
    assert profile(0.2)[1:] == (1, 3600) and profile(10)[1:] == (10, 360)
    assert profile(1000)[1] == 300  # the longest interval allowed


def test_start_adds_the_profile_runs_it_and_restores_the_device() -> None:
    body = start_body("irisenvsabc123", 1, 3600)
    text = "\n".join(body)
    assert '$$addprofile^SystemPerformance("irisenvsabc123","iris-envs run",1,3600)' in text
    assert 'Set io=$IO,runid=$$run^SystemPerformance("irisenvsabc123") Use io' in text
    assert "If 'rc Throw" in text and "If 'runid Throw" in text  # failures are errors
    assert "$$getlogdir^SystemPerformance()" in text


def test_stop_keeps_the_logs_so_the_report_is_made_and_removes_the_profile() -> None:
    text = "\n".join(stop_body("irisenvsabc123", "20261204_131500_irisenvsabc123"))
    assert '$$Stop^SystemPerformance("20261204_131500_irisenvsabc123",0)' in text
    assert '$$delprofile^SystemPerformance("irisenvsabc123")' in text
    assert parse_answer("IRIS-ENVS-SP|1:0:0:0_2:0:0:0|1|") == ("1:0:0:0_2:0:0:0", "1")
    assert parse_answer("nothing") is None


class FakeEngine:
    """Plays IRIS: the start and stop sessions, then the report appearing in the log folder."""

    def __init__(self, stop_answer: str = "1:0:0:0_2:0:0:0") -> None:
        self.stop_answer, self.polls = stop_answer, 0
        self.read: list[str] = []

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
        if stdin is None:  # the poll for the report: it appears, then its size holds
            self.polls += 1
            size = min(self.polls, 2) * 1000
            return ExecResult(0, f"{size} /usr/irissys/mgr/host_IRIS_20261204_1_x.html\n")
        nonce = re.search(rb"IRIS-ENVS-OK-([0-9a-f]+)", stdin)
        assert nonce is not None
        n = nonce.group(1).decode()
        if b"$$run^SystemPerformance" in stdin:
            said = "IRIS-ENVS-SP|20261204_1_x|/usr/irissys/mgr/|"
        else:
            said = f"IRIS-ENVS-SP|{self.stop_answer}|1|"
        return ExecResult(0, f"IRIS-ENVS-OUT-{n}<{said}>IRIS-ENVS-OUT-{n}\nIRIS-ENVS-OK-{n}\n")

    def read_file(self, container_id: str, path: str) -> bytes:
        self.read.append(path)
        return b"<html>report</html>"


def test_a_run_copies_the_report_into_the_output_folder(tmp_path: Path) -> None:
    engine = FakeEngine()
    run = Profile(cast(DockerEngine, engine), "c1", 1.0)
    run.start()
    assert run.runid == "20261204_1_x" and run.log_dir == "/usr/irissys/mgr/"
    run.finish(tmp_path / "out")
    assert run.problem == ""
    assert engine.read == ["/usr/irissys/mgr/host_IRIS_20261204_1_x.html"]
    assert (tmp_path / "out" / "host_IRIS_20261204_1_x.html").read_bytes() == b"<html>report</html>"


def test_a_failed_stop_is_reported_never_raised(tmp_path: Path) -> None:
    engine = FakeEngine(stop_answer="0^not running")
    run = Profile(cast(DockerEngine, engine), "c1", 1.0)
    run.start()
    run.finish(tmp_path)
    assert "0^not running" in run.problem and run.report is None and engine.read == []


def test_after_ctrl_c_it_stops_without_waiting_for_the_report(tmp_path: Path) -> None:
    engine = FakeEngine()
    run = Profile(cast(DockerEngine, engine), "c1", 1.0)
    run.start()
    run.finish(None)
    assert engine.polls == 0 and run.report is None and run.problem == ""
