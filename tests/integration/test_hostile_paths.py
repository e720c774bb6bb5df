"""Hostile paths (issue 14 defects 7 and 8): an unusable cache folder and bad --report paths
give a clear error with the documented exit code, no traceback, and lose no test result."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import (
    MakeProject,
    container_events_since,
    docker,
    remove_env_artifacts,
    run_cli,
    unique_env,
)

pytestmark = pytest.mark.docker

VERSION = "2025.1"


@pytest.fixture
def env_project(make_project: MakeProject, standin_images: dict[str, str]) -> Iterator[Path]:
    env = unique_env("hp")
    # No password: the first run generates one and writes it into the cache folder.
    root = make_project(f'[env."{env}"]\nimage = "{standin_images[VERSION]}"\n', name=env)
    yield root
    remove_env_artifacts(env)


def env_of(root: Path) -> str:
    return root.name


@pytest.mark.parametrize("kind", ["directory", "missing-folder"])
def test_a_bad_report_path_is_refused_before_anything_runs(
    env_project: Path, tmp_path: Path, kind: str
) -> None:
    target = tmp_path if kind == "directory" else tmp_path / "nope" / "r.json"
    since = time.time()
    done = run_cli(
        ["run", "-e", env_of(env_project), "--report", str(target), "--", "true"], env_project
    )
    assert done.returncode == int(ExitCode.CONFIG_ERROR), done.stderr
    assert "--report" in done.stderr and "Traceback" not in done.stderr
    assert container_events_since(env_of(env_project), since) == ""


def test_a_report_that_cannot_be_written_at_the_end_keeps_the_commands_exit_code(
    env_project: Path,
) -> None:
    reports = env_project / "reports"
    reports.mkdir()
    # The command puts a directory where the report goes: writing it fails after the run.
    done = run_cli(
        [
            "run",
            "-e",
            env_of(env_project),
            "--report",
            "reports/r.json",
            "--",
            "sh",
            "-c",
            "mkdir -p reports/r.json; exit 3",
        ],
        env_project,
        timeout=180,
    )
    assert done.returncode == 3, done.stderr
    assert "could not write the report" in done.stderr and "Traceback" not in done.stderr


def test_a_cache_folder_that_is_a_file_is_a_clear_error(env_project: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder\n")
    # `build` needs the cache (locks, logs); `key` and `list` do not.
    done = run_cli(
        ["build", "-e", env_of(env_project)], env_project, {"IRIS_ENVS_CACHE_DIR": str(blocker)}
    )
    assert done.returncode == int(ExitCode.CONFIG_ERROR), done.stderr
    assert f"the cache folder {blocker} cannot be used" in done.stderr
    assert "IRIS_ENVS_CACHE_DIR" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_a_full_or_read_only_cache_folder_is_a_clear_error_and_leaves_no_partial_file(
    env_project: Path, tiny_tmpfs: Path, fault: str
) -> None:
    cache = tiny_tmpfs / "cache"
    cache.mkdir()
    if fault == "full":
        filler = tiny_tmpfs / "filler"
        with filler.open("wb") as handle, pytest.raises(OSError):
            handle.write(os.urandom(1 << 20))  # ENOSPC once the 64 KiB are used
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    before = sorted(p.name for p in cache.rglob("*"))
    done = run_cli(
        ["build", "-e", env_of(env_project)],
        env_project,
        {"IRIS_ENVS_CACHE_DIR": str(cache)},
        timeout=180,
    )
    assert done.returncode == int(ExitCode.CONFIG_ERROR), done.stdout + done.stderr
    assert f"the cache folder {cache} cannot be used" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    # Atomic writes: no temp file, no half-written secrets file remains.
    after = sorted(p.name for p in cache.rglob("*"))
    assert not [name for name in after if name.endswith(".tmp")], after
    assert not [name for name in set(after) - set(before) if name.endswith(".json")], after


def test_a_command_that_does_not_exist_fails_before_any_container(env_project: Path) -> None:
    since = time.time()
    done = run_cli(["run", "-e", env_of(env_project), "--", "no-such-command-xyz"], env_project)
    assert done.returncode == int(ExitCode.CONFIG_ERROR), done.stderr
    assert "command not found: 'no-such-command-xyz'" in done.stderr
    assert container_events_since(env_of(env_project), since) == ""


def test_readme_spellings_up_env_and_down_env_and_unclipped_status(env_project: Path) -> None:
    # Issue 14 defects 12 and 13: `up ENV` / `down ENV` as the README writes them, and a
    # piped `status` that shows whole names instead of cutting them at 80 columns.
    env = env_of(env_project)
    up = run_cli(["up", env], env_project, timeout=180)
    assert up.returncode == 0, up.stderr
    status = run_cli(["status"], env_project)
    name = next(
        line.split("=", 1)[1]
        for line in up.stdout.splitlines()
        if line.startswith("# ") is False and line.startswith("IRIS_ENVS_CONTAINER=")
    )
    container_name = docker("inspect", "-f", "{{.Name}}", name).stdout.strip().lstrip("/")
    assert container_name in status.stdout, status.stdout
    down = run_cli(["down", env], env_project)
    assert down.returncode == 0 and container_name in down.stdout, down.stdout
