"""A Docker context selects the engine (issue 26, item 1): a context file made by the docker
CLI itself, in a DOCKER_CONFIG of the test's own, points at a SECOND dockerd (a private engine)
and wins over the default socket for `doctor`, `run`, `up`, `shell` and `down`."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import cli_env, run_cli, snapshot_repo
from tests.reliability.conftest import PrivateEngine

pytestmark = pytest.mark.docker


def shell_in_a_terminal(root: Path, env: str, extra: dict[str, str], script: str) -> str:
    """`iris-envs shell ENV` on a pseudo-terminal (it hands over to `docker exec -it`), fed
    ``script``; its whole output."""
    import pty
    import termios

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "iris_envs", "shell", env],
        cwd=root,
        env=cli_env(extra),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    # Type only once the docker CLI has put the terminal in raw mode: before, this terminal's
    # own line discipline would take the final Ctrl-D (EOF) for itself.
    deadline = time.monotonic() + 30
    while termios.tcgetattr(controller)[3] & termios.ICANON and time.monotonic() < deadline:
        time.sleep(0.05)
    os.write(controller, script.encode())
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the session ended
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    process.kill()
    process.wait()
    os.close(controller)
    return output.decode(errors="replace")


def test_a_docker_context_selects_a_second_engine_over_the_default_socket(
    private_engine: PrivateEngine, standin_images: dict[str, str], tmp_path: Path
) -> None:
    # The context exactly as `docker context create` / `docker context use` write it.
    config = tmp_path / "docker-config"
    context = f"iris-envs-second-{uuid.uuid4().hex[:6]}"
    docker = ["docker", "--config", str(config), "context"]
    subprocess.run(
        [*docker, "create", context, "--docker", f"host={private_engine.host}"], check=True
    )
    subprocess.run([*docker, "use", context], check=True, capture_output=True)
    assert json.loads((config / "config.json").read_text())["currentContext"] == context
    # Nothing else names an engine: the default socket (the shared engine) answers too.
    extra = {"DOCKER_CONFIG": str(config), "DOCKER_HOST": "", "DOCKER_CONTEXT": ""}
    env = f"ctx-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "project"
    root.mkdir()
    (root / "iris-envs.toml").write_text(
        f'[env."{env}"]\nimage = "{standin_images["2025.1"]}"\npassword = "Pw{uuid.uuid4().hex}"\n'
    )

    doctor = run_cli(["doctor", "--json"], root, extra)
    engine_check = json.loads(doctor.stdout)[0]
    assert engine_check["status"] == "pass", doctor.stdout + doctor.stderr
    assert engine_check["detail"].startswith("Docker ")
    assert (
        f"at {private_engine.host} (Docker context '{context}' (currentContext in "
        in (engine_check["detail"])
    )

    probe = "import os; print('container=' + os.environ['IRIS_ENVS_CONTAINER'])"
    done = run_cli(["run", "-e", env, "--", sys.executable, "-c", probe], root, extra, 240)
    assert done.returncode == 0, done.stdout + done.stderr
    # The snapshot was built on the second engine, and nothing of it on the default one.
    snapshots = private_engine.docker("images", "-q", snapshot_repo(env, root)).stdout.split()
    assert snapshots, done.stderr
    default = subprocess.run(
        [
            *("docker", "-H", "unix:///var/run/docker.sock", "images", "-q"),
            *("--filter", f"reference=iris-envs/*/{env}", "--filter", f"reference=iris-envs/{env}"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert default.stdout.split() == []

    # `up` there too, and `shell` hands the docker CLI the same engine (`--context`).
    up = run_cli(["up", env], root, extra, 120)
    assert up.returncode == 0, up.stdout + up.stderr
    up_containers = private_engine.docker(
        "ps", "-q", "--filter", "label=org.iris-envs.role=up"
    ).stdout.split()
    assert len(up_containers) == 1
    marker = f"via-context-{uuid.uuid4().hex[:6]}"
    output = shell_in_a_terminal(root, env, extra, f'Write "{marker}"\nHalt\n\x04')
    # What the session printed (the typed line is echoed too: the output follows the prompt).
    assert f"USER>{marker}" in output and "No such container" not in output, output
    down = run_cli(["down", env], root, extra, 120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert private_engine.docker("ps", "-aq").stdout.split() == []


def test_a_context_naming_a_dead_engine_is_exit_4_naming_the_context(tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    docker = ["docker", "--config", str(config), "context"]
    dead = f"unix:///tmp/iris-envs-nobody-{uuid.uuid4().hex[:8]}.sock"
    subprocess.run([*docker, "create", "dead", "--docker", f"host={dead}"], check=True)
    extra = {"DOCKER_CONFIG": str(config), "DOCKER_HOST": "", "DOCKER_CONTEXT": "dead"}
    (tmp_path / "iris-envs.toml").write_text('[env.app]\nimage = "busybox"\n')
    done = run_cli(["build"], tmp_path, extra)
    # A named engine is never swapped for the default socket, which answers here.
    assert done.returncode == int(ExitCode.DOCKER_UNAVAILABLE), done.stderr
    assert f"no Docker engine answers at {dead} (Docker context 'dead' (DOCKER_CONTEXT))" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr
