"""`iris-envs doctor` (issue 13) on the real engine, a dead one and an unusable cache folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import MakeProject, run_cli, unique_env

pytestmark = pytest.mark.docker

CHECKS = [
    "engine",
    "engine disk",
    "cache folder",
    "cache disk",
    "configuration",
    "cpu count",
    "architecture",
    "license",
    "leftovers",
    "stale snapshots",
]


def test_a_healthy_engine_passes(make_project: MakeProject, standin_images: dict[str, str]) -> None:
    root = make_project(f'[env.app]\nimage = "{standin_images["2025.1"]}"\n')
    done = run_cli(["doctor", "--json"], root)
    assert done.returncode == 0, done.stdout + done.stderr
    checks = json.loads(done.stdout)
    assert [c["check"] for c in checks] == CHECKS
    assert all(c["status"] in ("pass", "warn") for c in checks), checks
    assert checks[0]["status"] == "pass" and "storage driver" in checks[0]["detail"]


def test_a_dead_engine_fails_that_check_with_its_fix(tmp_path: Path) -> None:
    dead = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    done = run_cli(["doctor"], tmp_path, dead)
    assert done.returncode == int(ExitCode.FAILED), done.stdout + done.stderr
    assert "FAIL  engine: no Docker engine answers" in done.stdout
    assert "fix: start Docker Desktop or dockerd" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    # run and build stop at once with the same message (exit 4).
    build = run_cli(["build"], tmp_path, dead)
    assert build.returncode == int(ExitCode.DOCKER_UNAVAILABLE), build.stderr
    assert "no Docker engine answers" in build.stderr and "DOCKER_HOST" in build.stderr


def test_an_unusable_cache_folder_fails_that_check(
    tmp_path: Path, docker_engine_available: bool
) -> None:
    blocker = tmp_path / "cache-file"
    blocker.write_text("a file, not a folder\n")
    done = run_cli(["doctor", "--json"], tmp_path, {"IRIS_ENVS_CACHE_DIR": str(blocker)})
    assert done.returncode == int(ExitCode.FAILED), done.stdout + done.stderr
    by_name = {c["check"]: c for c in json.loads(done.stdout)}
    assert by_name["cache folder"]["status"] == "fail"
    assert "IRIS_ENVS_CACHE_DIR" in by_name["cache folder"]["fix"]


def test_a_snapshot_for_an_old_key_is_reported_with_the_prune_command(
    make_project: MakeProject,
    standin_images: dict[str, str],
    env_cleanup: Callable[[str], str],
) -> None:
    name = env_cleanup(unique_env("doctor"))
    config = '[env.{}]\nimage = "{}"\nsetup = [{{shell = "{}"}}]\n'
    root = make_project(config.format(name, standin_images["2025.1"], "true"))
    assert run_cli(["build"], root).returncode == 0
    fresh = {c["check"]: c for c in json.loads(run_cli(["doctor", "--json"], root).stdout)}
    assert fresh["stale snapshots"]["status"] == "pass", fresh["stale snapshots"]
    # Another step: the key changes, the snapshot just built is now stale.
    make_project(config.format(name, standin_images["2025.1"], "echo changed"))
    done = run_cli(["doctor", "--json"], root)
    stale = {c["check"]: c for c in json.loads(done.stdout)}["stale snapshots"]
    assert stale["status"] == "warn", stale
    assert f"{name} (1)" in stale["detail"]
    assert stale["fix"].startswith("iris-envs cache prune")
    assert done.returncode == 0, "a warning does not fail doctor"
