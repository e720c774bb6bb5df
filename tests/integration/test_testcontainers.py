"""IRISEnvContainer (issue 9 item 6) with Ryuk disabled: a context manager that leaves nothing."""

from __future__ import annotations

import socket
import uuid

import pytest

from tests.integration.conftest import MakeProject, docker, remove_env_artifacts

pytestmark = pytest.mark.docker


def test_irisenvcontainer_as_a_context_manager_leaves_nothing(
    make_project: MakeProject, standin_images: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")  # Ryuk's image cannot be pulled
    from testcontainers.core.config import testcontainers_config

    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    from iris_envs.testcontainers import IRISEnvContainer

    env = f"tc-{uuid.uuid4().hex[:8]}"
    root = make_project(
        f'[env."{env}"]\nimage = "{standin_images["2025.1"]}"\npassword = "Tc-pw-1"\n'
    )
    try:
        with IRISEnvContainer(env, config=root / "iris-envs.toml") as iris:
            host, port = iris.get_container_host_ip(), iris.get_exposed_port(1972)
            assert (iris.username, iris.password, iris.namespace) == ("test", "Tc-pw-1", "USER")
            assert iris.get_connection_url() == f"iris://test:Tc-pw-1@{host}:{port}/USER"
            with socket.create_connection((host, int(port)), 5) as sock:
                assert sock.makefile().readline().startswith("IRIS-STANDIN")
            container = iris.get_wrapped_container().id
            bindings = docker("port", container, "1972").stdout.split()
            assert all(b.startswith("127.0.0.1:") for b in bindings), bindings
            labels = docker("inspect", "-f", "{{json .Config.Labels}}", container).stdout
            assert '"org.iris-envs.managed":"true"' in labels  # iris-envs gc can reap it
        assert docker("ps", "-aq", "--filter", f"label=org.iris-envs.env={env}").stdout == ""
        assert docker("ps", "-aq", "--filter", "name=testcontainers-ryuk").stdout == ""
    finally:
        remove_env_artifacts(env)
