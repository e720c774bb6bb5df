"""A "remote" engine (issue 11, item 6): DOCKER_HOST=tcp://127.0.0.2:PORT. The connection
variables name that host, and the ports are published where IRIS_ENVS_PUBLISH_ADDRESS says."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli
from tests.reliability.conftest import PrivateEngine

pytestmark = pytest.mark.docker

CHECK = (
    "import os, socket\n"
    "host, port = os.environ['IRIS_HOST'], int(os.environ['IRIS_PORT'])\n"
    "assert host == '127.0.0.2', host\n"
    "assert os.environ['IRIS_CONNECTION_STRING'].startswith('127.0.0.2:')\n"
    "with socket.create_connection((host, port), 5) as s:\n"
    "    assert s.makefile().readline().startswith('IRIS-STANDIN'), 'no superserver'\n"
)


def test_a_tcp_engine_is_reached_at_its_host(
    private_engine: PrivateEngine, tmp_path: Path, standin_images: dict[str, str]
) -> None:
    env = f"remote-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "p"
    root.mkdir()
    (root / "iris-envs.toml").write_text(
        f'[env."{env}"]\nimage = "{standin_images["2025.1"]}"\npassword = "Pw-remote"\n'
    )
    extra = {"DOCKER_HOST": private_engine.tcp_host, "IRIS_ENVS_PUBLISH_ADDRESS": "127.0.0.2"}
    done = run_cli(["run", "-e", env, "--", sys.executable, "-c", CHECK], root, extra, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
