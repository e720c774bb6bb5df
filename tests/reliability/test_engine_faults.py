"""Faults of the engine itself (issue 14, "faults not tried yet"), on a private engine: dockerd
stopped during a build and during a run, and its disk filling up during a build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from iris_envs.naming import project_repository
from tests.integration.conftest import popen_cli, run_cli
from tests.reliability.conftest import PrivateEngine
from tests.standin.build import build_slow_variant

pytestmark = pytest.mark.docker

VERSION = "2025.1"


def project(root: Path, image: str, setup: str = "") -> tuple[Path, str]:
    env = f"ef-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "iris-envs.toml").write_text(
        f'[env."{env}"]\nimage = "{image}"\npassword = "Pw{uuid.uuid4().hex}"\n'
        + (f"setup = [\n{setup}]\n" if setup else "")
    )
    return root, env


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 90) -> str:
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        seen += line
    assert text in seen, seen
    return seen


def stop_engine_expecting_exit_4(
    engine: PrivateEngine, process: subprocess.Popen[str], seen: str, image: str
) -> None:
    """Stop the engine under a running command: it must end with exit 4 and a clear error, no
    traceback; then start the engine again, ready to run containers."""
    engine.stop()
    _out, err = process.communicate(timeout=120)
    err = seen + err
    assert process.returncode == int(ExitCode.DOCKER_UNAVAILABLE), err
    assert "Traceback" not in err and "iris-envs: error:" in err
    engine.start()
    engine.wait_until_it_runs_containers(image)


def managed(engine: PrivateEngine) -> list[str]:
    return engine.docker("ps", "-aq", "--filter", "label=org.iris-envs.managed=true").stdout.split()


def build_expecting_a_full_disk(engine: PrivateEngine, root: Path, env: str) -> str:
    """`build` on the private engine must fail with exit 5 and the engine's "no space left on
    device", no traceback, no tag and no container; return its stderr."""
    done = run_cli(["build", "-e", env], root, {"DOCKER_HOST": engine.host}, timeout=240)
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stdout + done.stderr
    assert "no space left on device" in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr
    tags = engine.docker("images", "--format", "{{.Repository}}").stdout.split()
    assert not [tag for tag in tags if tag.startswith("iris-envs/")], tags
    assert managed(engine) == []
    return done.stderr


def test_engine_stopped_during_a_build_is_exit_4_and_the_next_run_recovers(
    private_engine: PrivateEngine, tmp_path: Path, standin_images: dict[str, str]
) -> None:
    # Slow enough that the build still waits for IRIS when the engine stops (that takes a second
    # or two), not so slow that the recovering run, which starts it twice more, takes a minute.
    slow = build_slow_variant(VERSION, 6)
    private_engine.load(slow)
    root, env = project(tmp_path / "p", slow)
    extra = {"DOCKER_HOST": private_engine.host}
    process = popen_cli(["build", "-e", env], cwd=root, env=extra)
    seen = wait_for_line(process, "start build container")
    stop_engine_expecting_exit_4(private_engine, process, seen, standin_images[VERSION])
    # The next invocation removes what the interrupted build left and succeeds.
    again = run_cli(["run", "-e", env, "--", "true"], root, extra, timeout=240)
    assert again.returncode == 0, again.stderr
    assert "left by a killed run" in again.stderr
    assert managed(private_engine) == []
    tags = private_engine.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    repo = project_repository(root, env)
    assert sum(1 for tag in tags if tag.startswith(f"{repo}:")) == 2  # key + latest


def test_engine_stopped_during_a_run_fails_the_run_cleanly_and_the_next_run_recovers(
    private_engine: PrivateEngine, tmp_path: Path, standin_images: dict[str, str]
) -> None:
    root, env = project(tmp_path / "p", standin_images[VERSION])
    extra = {"DOCKER_HOST": private_engine.host}
    assert run_cli(["build", "-e", env], root, extra, timeout=180).returncode == 0
    started = root / "started"
    # The test command: connect to the superserver once IRIS has gone with its engine.
    check = (
        "import os, pathlib, socket, time\n"
        f"pathlib.Path({str(started)!r}).touch()\n"
        "time.sleep(5)\n"
        "socket.create_connection((os.environ['IRIS_HOST'], int(os.environ['IRIS_PORT'])), 3)\n"
    )
    process = popen_cli(["run", "-e", env, "--", sys.executable, "-c", check], cwd=root, env=extra)
    deadline = time.monotonic() + 90
    while not started.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert started.exists()
    private_engine.stop()
    _out, err = process.communicate(timeout=120)
    assert process.returncode not in (0, int(ExitCode.INTERRUPTED)), err
    assert "Traceback (most recent call last)" not in err.split("running ")[0]  # none of ours
    assert "could not remove container" in err and "iris-envs gc" in err
    private_engine.start()
    private_engine.wait_until_it_runs_containers(standin_images[VERSION])
    again = run_cli(["run", "-e", env, "--", "true"], root, extra, timeout=180)
    assert again.returncode == 0, again.stderr
    assert managed(private_engine) == []


def test_engine_stopped_while_up_waits_for_iris_is_exit_4_and_up_recovers(
    private_engine: PrivateEngine, tmp_path: Path, standin_images: dict[str, str]
) -> None:
    root, env = project(tmp_path / "p", standin_images[VERSION])
    extra = {"DOCKER_HOST": private_engine.host}
    assert run_cli(["build", "-e", env], root, extra, timeout=180).returncode == 0
    # The same snapshot, but its IRIS takes 30 s to start (the stand-in's delay file): a window
    # in which to stop the engine while `up` waits for readiness.
    [ref] = [
        tag
        for tag in private_engine.docker(
            "images", "--format", "{{.Repository}}:{{.Tag}}"
        ).stdout.split()
        if tag.startswith(f"{project_repository(root, env)}:") and not tag.endswith(":latest")
    ]
    slow = subprocess.run(
        ["docker", "-H", private_engine.host, "build", "-q", "-t", ref, "-"],
        input=f"FROM {ref}\nUSER root\nRUN echo 30 > /usr/irissys/standin-delay\nUSER 51773\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert slow.returncode == 0, slow.stderr
    process = popen_cli(["up", env], cwd=root, env=extra)
    seen = wait_for_line(process, "start container")
    time.sleep(1)
    stop_engine_expecting_exit_4(private_engine, process, seen, standin_images[VERSION])
    # The container the interrupted `up` started is found again (or replaced), then removed.
    again = run_cli(["down", env], root, extra, timeout=120)
    assert again.returncode == 0, again.stderr
    assert managed(private_engine) == []


@pytest.mark.engine_disk(100)
def test_engine_disk_full_during_a_build_is_a_build_failure_with_nothing_tagged(
    private_engine: PrivateEngine,
    tmp_path: Path,
    isolated_cache: Path,
    standin_images: dict[str, str],
) -> None:
    # 50 MB written by a step fits; committing that layer needs as much again and does not.
    root, env = project(
        tmp_path / "p",
        standin_images[VERSION],
        '  { shell = "head -c 52428800 /dev/urandom > /home/irisowner/big" },\n',
    )
    build_expecting_a_full_disk(private_engine, root, env)
    index = isolated_cache / "snapshots.json"
    if index.exists():
        json.loads(index.read_text())  # still valid JSON


@pytest.mark.engine_disk(100)
def test_engine_disk_full_during_a_dat_copy_is_a_build_failure_with_nothing_left(
    private_engine: PrivateEngine,
    tmp_path: Path,
    isolated_cache: Path,
    standin_images: dict[str, str],
) -> None:
    # The engine runs out of space while it extracts the streamed archive: it stops reading
    # mid-upload and answers with its error, which must reach the user as such (exit 5).
    root, env = project(
        tmp_path / "p",
        standin_images[VERSION],
        '  { dat = "db", database = "BIG", mount = "database" },\n',
    )
    (root / "db").mkdir()
    with (root / "db" / "IRIS.DAT").open("wb") as handle:
        for _ in range(150):
            handle.write(os.urandom(1 << 20))
    stderr = build_expecting_a_full_disk(private_engine, root, env)
    assert "setup[1] dat db" in stderr
