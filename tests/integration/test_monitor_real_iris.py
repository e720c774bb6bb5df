"""Monitoring on a real IRIS image (IRIS_ENVS_TEST_IMAGE): SYS.Stats counters see the command's
work, and a ^SystemPerformance profile covering the command leaves its HTML report in the
environment's output folder."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.test_config_model_real_iris import envs, project

pytestmark = [pytest.mark.docker, pytest.mark.real_iris]

__all__ = ["envs"]  # the fixture, imported for the tests below

WORK = (
    'docker exec -i "$IRIS_ENVS_CONTAINER" iris session IRIS -U USER '
    "<<'EOF'\nFor i=1:1:5000 Set ^IrisEnvsWork(i)=i\nHalt\nEOF\nsleep 15\n"
)


def test_counters_and_a_system_performance_report(tmp_path: Path, envs: list[str]) -> None:
    env = f"mon-{uuid.uuid4().hex[:8]}"
    envs.append(env)
    root = project(
        tmp_path / "p",
        env,
        'monitor = "systemperformance"\nmonitor_interval = 1\n',
        {},
    )
    command = ["run", "-e", env, "--report", "r.json", "--", "sh", "-c", WORK]
    done = subprocess.run(
        [sys.executable, "-m", "iris_envs", *command],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [entry] = json.loads((root / "r.json").read_text())["environments"]
    monitoring = entry["monitoring"]
    assert monitoring["stopped"] is None, monitoring
    assert monitoring["deltas"]["global_updates"] >= 5000
    assert monitoring["deltas"]["journal_entries"] >= 1
    assert len(monitoring["samples"]) >= 5
    profile = monitoring["systemperformance"]
    assert profile["problem"] is None, profile
    report = Path(profile["report"])
    assert report.parent == root / ".iris-envs" / env
    assert profile["runid"] in report.name and "<html" in report.read_text().lower()
