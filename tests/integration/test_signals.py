"""SIGINT and SIGTERM at every phase of a build leave nothing behind (issue 22 item 6), and
`down` while `up` starts is reported as that (item 7).

The engine's answer to the create or commit a phase starts with is held back (slow_engine.py),
so the signal lands while the client waits for it: the engine has made the container or the
image, and iris-envs has not yet heard its id.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import docker, popen_cli, run_cli
from tests.integration.slow_engine import slow_engine
from tests.integration.test_build import assert_nothing_left, interrupt_build_at, project_env

pytestmark = pytest.mark.docker

__all__ = ["project_env"]  # the fixture, used by name

CREATE = rb"POST /v[0-9.]+/containers/create"
COMMIT = rb"POST /v[0-9.]+/commit"
ENV = "org.iris-envs.env"
VERSION = "2025.1"
HELD = 3.0  # seconds the engine's answer is held back; the signal comes 1 s into it


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("marker", "request_line"),
    [
        ("building snapshot", CREATE),  # the build container's create
        ("verify snapshot", CREATE),  # the verify container's create
        ("commit snapshot", COMMIT),
    ],
    ids=["build-create", "verify-create", "commit"],
)
def test_a_signal_while_the_engine_answers_leaves_no_container_and_no_image(
    project_env: Callable[..., tuple[Path, str]], signum: int, marker: str, request_line: bytes
) -> None:
    root, env = project_env(
        '  { objectscript = "setup/a.script" },\n', {"setup/a.script": "Set ^A=1\n"}
    )
    with slow_engine(request_line, HELD) as engine:
        process = popen_cli(["build", "-e", env], cwd=root, env={"DOCKER_HOST": engine.docker_host})
        stderr, took = interrupt_build_at(
            process, marker, before=lambda: time.sleep(1.0), signum=signum
        )
        assert engine.held >= 1, stderr  # the signal did land while an answer was held back
    assert process.returncode == int(ExitCode.INTERRUPTED), stderr
    assert "Traceback" not in stderr
    assert took < 30, f"the build took {took:.0f} s to stop after the signal"
    # The engine had finished its work before the held answer: what is there now stays.
    assert_nothing_left(env)


def up_containers(env: str) -> list[str]:
    return docker(
        "ps", "-aq", "--filter", "label=org.iris-envs.role=up", "--filter", f"label={ENV}={env}"
    ).stdout.split()


def test_down_while_up_starts_is_reported_as_taken_down_with_exit_6(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    # Item 7: `up` used to fail with the engine's own words ("can not get logs from container
    # which is dead or marked for removal"), exit 1. `down` comes as soon as the container
    # exists, while it starts, and while `up` waits for IRIS.
    from tests.standin.build import build_slow_variant

    slow = build_slow_variant(VERSION, 6)  # each container of the snapshot waits 6 s for IRIS
    root, env = project_env("", {}, image=slow)
    built = run_cli(["build", "-e", env], cwd=root, timeout=300)
    assert built.returncode == 0, built.stderr
    for delay in (0.0, 1.0, 3.0):
        up = popen_cli(["up", env], cwd=root)
        try:
            deadline = time.monotonic() + 60
            while not up_containers(env) and up.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(delay)
            down = run_cli(["down", env], cwd=root)
            assert down.returncode == 0, down.stderr
            out, err = up.communicate(timeout=120)
        finally:
            if up.poll() is None:
                up.kill()
                up.communicate()
        assert up.returncode == int(ExitCode.NOT_READY), (delay, err)
        assert f"environment {env} was taken down while `up` started it" in err, err
        assert "Traceback" not in err and "marked for removal" not in err
        assert out == ""  # no connection details of a container that is gone
        assert up_containers(env) == []
