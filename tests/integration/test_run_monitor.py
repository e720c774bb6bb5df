"""run --monitor on the real engine: IRIS's metrics sampled around the command, their deltas in
the JSON report and charts in the HTML one (the stand-in models SYS.Stats.Dashboard: each
superserver login adds 37 global references)."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable

import pytest

from tests.integration.test_run import Project, run_project

__all__ = ["run_project"]  # the fixture, shared with test_run.py

pytestmark = pytest.mark.docker

# Log in N times over the superserver, pausing between logins, so readings fall mid-command.
LOGINS = textwrap.dedent(
    """
    import os, socket, sys, time

    for _ in range(int(sys.argv[1])):
        address = (os.environ["IRIS_HOST"], int(os.environ["IRIS_PORT"]))
        with socket.create_connection(address, timeout=10) as sock:
            stream = sock.makefile("rw")
            stream.readline()
            user, pw = os.environ["IRIS_USERNAME"], os.environ["IRIS_PASSWORD"]
            stream.write(f"LOGIN {user} {pw} {os.environ['IRIS_NAMESPACE']}\\n")
            stream.flush()
            assert stream.readline().startswith("OK "), "login refused"
        time.sleep(float(sys.argv[2]))
    """
)


def test_monitor_reports_deltas_that_grow_with_the_commands_work(
    run_project: Callable[..., Project],
) -> None:
    project = run_project("2025.1")
    (project.root / "logins.py").write_text(LOGINS)
    deltas = {}
    for logins in (1, 8):
        done = project.cli(
            "run", "--monitor-interval", "0.5", "--report", f"r{logins}.json",
            "--report", f"r{logins}.html", "--", sys.executable, "logins.py", str(logins), "0.3",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        [entry] = json.loads((project.root / f"r{logins}.json").read_text())["environments"]
        data = entry["metrics"]
        assert data["interval"] == 0.5
        # before and after; the longer command also gets readings while it runs
        assert len(data["samples"]) >= (2 if logins == 1 else 3), data
        first, last = data["samples"][0], data["samples"][-1]
        assert set(first["values"]) >= {"global_refs", "processes", "license_units"}
        assert last["states"] == {"lock_table": "Normal"}
        assert [s["t"] for s in data["samples"]] == sorted(s["t"] for s in data["samples"])
        deltas[logins] = data["deltas"]
        page = (project.root / f"r{logins}.html").read_text()
        assert "IRIS metrics (SYS.Stats.Dashboard)" in page and "<polyline" in page
    assert deltas[1]["global_refs"] == 37  # the stand-in's model: 37 per login
    assert deltas[8]["global_refs"] == 8 * 37  # more work, a larger delta
    assert deltas[8]["journal_entries"] > deltas[1]["journal_entries"]


def test_without_monitor_there_are_no_readings_and_monitor_true_asks_for_them(
    run_project: Callable[..., Project],
) -> None:
    project = run_project("2025.1")
    (project.root / "logins.py").write_text(LOGINS)
    done = project.cli(
        "run", "--report", "r.json", "--", sys.executable, "logins.py", "1", "0"
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [entry] = json.loads((project.root / "r.json").read_text())["environments"]
    assert entry["metrics"] is None
    assert "sample IRIS metrics" not in done.stderr

    config = project.root / "iris-envs.toml"
    config.write_text(config.read_text() + "monitor = true\n")  # the environment asks for it
    done = project.cli("run", "--report", "r.json", "--", sys.executable, "logins.py", "1", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    [entry] = json.loads((project.root / "r.json").read_text())["environments"]
    assert entry["metrics"]["deltas"]["global_refs"] == 37
    assert "no snapshot" not in done.stderr  # run-only: the same snapshot, not rebuilt


def test_a_host_short_of_memory_is_reported_and_monitoring_backs_off_not_the_run(
    run_project: Callable[..., Project],
) -> None:
    """Every host has less than 100 % of its memory free: the threshold makes the pressure
    real here, through the same reading from inside the container as on a short host."""
    project = run_project("2025.1")
    (project.root / "logins.py").write_text(LOGINS)
    done = project.cli(
        "run", "--monitor-interval", "0.5", "--min-free-memory", "100", "--report", "r.json",
        "--report", "r.html", "--", sys.executable, "logins.py", "4", "0.3",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr  # the run is not failed
    [entry] = json.loads((project.root / "r.json").read_text())["environments"]
    pressure = entry["metrics"]["pressure"]
    assert pressure["thresholds"] == {"memory_free": 100.0, "disk_free": 10.0}
    assert 0 < pressure["lowest"]["memory_free"] < 100 and pressure["lowest"]["disk_free"] > 0
    assert pressure["events"] and "of memory free (< 100 %)" in pressure["events"][0]["short"]
    assert entry["metrics"]["samples"] == []  # no IRIS reading while the host is short
    assert entry["metrics"]["final_interval"] > 0.5  # backed off
    assert "the engine host has" in entry["metrics"]["notes"][0]
    assert "short" in (project.root / "r.html").read_text()

    bad = project.cli("run", "--monitor", "--min-free-disk", "120", "--", "true")
    assert bad.returncode == 2 and "--min-free-disk must be a percentage" in bad.stderr
