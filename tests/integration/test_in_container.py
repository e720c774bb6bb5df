"""iris-envs inside a container of the same engine (issue 26, item 3): a devcontainer or a CI
agent with the host's Docker socket mounted cannot reach ports published on the host's
127.0.0.1; `iris-envs run` and `pytest --iris-env` there reach IRIS over the shared network."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.client_container import run_in_client_container
from tests.integration.conftest import MakeProject, docker, run_cli, unique_env

pytestmark = pytest.mark.docker

# Connects to what the variables name; prints where, and exits 1 when it cannot.
REACH = (
    "import os, socket, sys\n"
    "where = (os.environ['IRIS_HOST'], int(os.environ['IRIS_PORT']))\n"
    "try:\n"
    "    socket.create_connection(where, timeout=5).close()\n"
    "except OSError as error:\n"
    "    sys.exit(f'cannot reach {where}: {error}')\n"
    "print('reached', *where)\n"
)

PLUGIN_TEST = """\
import os
import socket


def test_iris_is_reachable(iris_env):
    socket.create_connection((iris_env.host, iris_env.port), timeout=5).close()
    print("reached", iris_env.host, iris_env.port)


def test_the_testcontainers_class_reaches_iris():
    from iris_envs.testcontainers import IRISEnvContainer

    with IRISEnvContainer(os.environ["ENV_NAME"]) as iris:
        where = (iris.get_container_host_ip(), iris.get_exposed_port(1972))
        socket.create_connection(where, timeout=5).close()
        print("testcontainers reached", *where)
"""


@pytest.fixture
def project(
    make_project: MakeProject,
    standin_images: dict[str, str],
    env_cleanup: Callable[[str], str],
) -> tuple[Path, str]:
    """A project whose snapshot is built here, on the host (the container reuses it)."""
    name = env_cleanup(unique_env("inside"))
    root = make_project(
        f'[env.{name}]\nimage = "{standin_images["2025.1"]}"\n',
        {"test_reach.py": PLUGIN_TEST},
    )
    done = run_cli(["build", "-e", name], root)
    assert done.returncode == 0, done.stderr
    return root, name


@pytest.fixture
def network() -> Iterator[str]:
    """A user-defined network, as a devcontainer's compose file makes one."""
    name = f"iris-envs-test-{uuid.uuid4().hex[:8]}"
    docker("network", "create", name)
    yield name
    docker("network", "rm", name, check=False)


def test_run_from_a_container_on_its_own_network_reaches_iris(
    project: tuple[Path, str], network: str, cleanup_label: str
) -> None:
    root, name = project
    # Braces doubled: `iris-envs run` fills {env}-style placeholders in the command (as tox).
    literal = REACH.replace("{", "{{").replace("}", "}}")
    argv = ["python", "-m", "iris_envs", "run", "-e", name, "--", "python", "-c", literal]
    done = run_in_client_container(argv, root, label=cleanup_label, network=network)
    assert done.returncode == 0, done.stdout + done.stderr
    [line] = [x for x in done.stdout.splitlines() if x.startswith("reached ")]
    host, port = line.split()[1:]
    assert port == "1972" and host != "127.0.0.1"  # the IRIS container's own address and port
    subnet = docker(
        "network", "inspect", network, "--format", "{{(index .IPAM.Config 0).Subnet}}"
    ).stdout.strip()
    assert host.rsplit(".", 1)[0] == subnet.split("/")[0].rsplit(".", 1)[0], (host, subnet)

    # The override still wins: published on 127.0.0.1 as asked, which this container cannot
    # reach (what every run from a container got before).
    forced = {"IRIS_ENVS_PUBLISH_ADDRESS": "127.0.0.1"}
    refused = run_in_client_container(argv, root, label=cleanup_label, network=network, env=forced)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "cannot reach ('127.0.0.1'," in refused.stdout + refused.stderr


def test_pytest_iris_env_and_testcontainers_from_a_container_on_the_default_bridge(
    project: tuple[Path, str], cleanup_label: str
) -> None:
    root, name = project
    argv = ["python", "-m", "pytest", "-p", "no:cacheprovider", "-s", "-q"]
    argv += ["--iris-env", name, "test_reach.py"]
    # Ryuk's image cannot be pulled here; iris-envs labels its containers for `gc` instead.
    env = {"ENV_NAME": name, "TESTCONTAINERS_RYUK_DISABLED": "true"}
    done = run_in_client_container(argv, root, label=cleanup_label, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    reached = [x.split("reached ")[1].split() for x in done.stdout.splitlines() if "reached " in x]
    assert [port for _host, port in reached] == ["1972", "1972"]
    assert all(host != "127.0.0.1" for host, _port in reached)
    # Nothing left behind: the plugin removed its container.
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=org.iris-envs.env={name}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert left.stdout.split() == []
