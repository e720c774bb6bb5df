"""IRIS monitoring during `iris-envs run` on the real engine (stand-in): counter deltas in the
report and summary, --monitor, backing off under host pressure, bad values."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import run_cli, unique_env, write_project

VERSION = "2025.1"
# The command does N global sets in the environment's container, through `iris session` (as a
# test's ObjectScript would); the sampler must see them as updates.
WORK = (
    'docker exec -i -u irisowner "$IRIS_ENVS_CONTAINER" iris session IRIS -U USER '
    "<<'EOF'\nFor i=1:1:{n} Set ^IrisEnvsWork(i)=i\nHalt\nEOF\nsleep 0.5\n"
)


def _project(tmp: Path, image: str, env: str, extra: str = "") -> Path:
    return write_project(
        tmp,
        f'[env.{env}]\nimage = "{image}"\npassword = "Pw{uuid.uuid4().hex}"\n'
        f"monitor_interval = 0.2\n{extra}",
    )


@pytest.fixture
def monitored(
    standin_images: dict[str, str], tmp_path: Path, env_cleanup: Callable[[str], str]
) -> Callable[..., tuple[Path, str]]:
    def make(extra: str = "monitor = true\n") -> tuple[Path, str]:
        env = env_cleanup(unique_env("mon"))
        root = _project(tmp_path / env, standin_images[VERSION], env, extra)
        return root, env

    return make


def _run(root: Path, env: str, n: int, *flags: str) -> tuple[dict[str, Any], str]:
    done = run_cli(
        ["run", "-e", env, "--report", "r.json", *flags, "--", "sh", "-c", WORK.format(n=n)],
        cwd=root,
        env={"IRIS_ENVS_CACHE_DIR": str(root / "cache")},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [entry] = json.loads((root / "r.json").read_text())["environments"]
    return entry, done.stderr


def test_deltas_follow_the_work_the_command_does(
    monitored: Callable[..., tuple[Path, str]],
) -> None:
    root, env = monitored()
    small, _ = _run(root, env, 20)
    large, summary = _run(root, env, 400)
    for entry, n in ((small, 20), (large, 400)):
        monitoring = entry["monitoring"]
        assert monitoring["stopped"] is None and monitoring["failed"] == 0, monitoring
        # Every Set is a global update and a reference (SYS.Stats.Global); the sampler's own
        # sessions add none.
        assert n <= monitoring["deltas"]["global_updates"] < n + 10, monitoring["deltas"]
        assert monitoring["deltas"]["routine_commands"] >= n
        assert len(monitoring["samples"]) >= 2  # when the command started and ended
    assert (
        large["monitoring"]["deltas"]["global_references"]
        > (small["monitoring"]["deltas"]["global_references"])
    )
    assert "IRIS: global references +" in summary and "global updates +" in summary, summary


def test_monitor_flag_turns_it_on_and_its_absence_leaves_it_off(
    monitored: Callable[..., tuple[Path, str]],
) -> None:
    root, env = monitored(extra="")
    off, summary = _run(root, env, 5)
    assert off["monitoring"] is None and "IRIS:" not in summary
    on, _ = _run(root, env, 5, "--monitor")
    assert on["monitoring"]["deltas"]["global_updates"] >= 5


def test_under_memory_pressure_it_backs_off_and_the_run_passes(
    monitored: Callable[..., tuple[Path, str]],
) -> None:
    # No host has 100 TB free: every sample finds "pressure" and skips its IRIS session.
    root, env = monitored(extra='monitor = true\nmonitor_min_free_memory = "100TB"\n')
    entry, summary = _run(root, env, 5)
    assert entry["status"] == "passed"
    monitoring = entry["monitoring"]
    assert monitoring["samples"] == [] and monitoring["deltas"] == {}
    assert monitoring["pressure"] and "free memory" in monitoring["pressure"][0]["reason"]
    assert monitoring["pressure"][0]["free_memory"] > 0
    assert "backed off" in summary and "100000000 MB" in summary, summary


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('monitor = "yes"\n', "monitor"),
        ("monitor_interval = 0\n", "monitor_interval"),
        ('monitor_min_free_disk = "lots"\n', "monitor_min_free_disk"),
    ],
)
def test_a_bad_monitor_value_is_exit_2_naming_the_key(
    standin_images: dict[str, str], tmp_path: Path, line: str, named: str
) -> None:
    env = unique_env("mon")
    image = standin_images[VERSION]
    root = write_project(tmp_path, f'[env.{env}]\nimage = "{image}"\npassword = "Pw1x"\n{line}')
    done = run_cli(["run", "-e", env, "--", "true"], cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert named in done.stderr and "allowed:" in done.stderr and "Traceback" not in done.stderr
