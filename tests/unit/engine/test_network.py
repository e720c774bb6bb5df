"""Inside a container of the same engine: the container id is found, the engine must agree, and
IRIS is then reached over the shared network; overrides and host networking switch it off."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from iris_envs.config.spec import EnvSpec
from iris_envs.engine import network as net
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.network import ClientNetwork, choose_network, container_id_candidates
from iris_envs.engine.types import ContainerInfo
from iris_envs.run.variables import connection_environment

ID = "2c51eac041f599902cc76e34300d5a04f42038a2e679347923f483d82cc8e6ea"
PODMAN_ID = "9f3b" + "0" * 60
# Read from a container of Docker 20.10 on cgroup v1 (the engine bind-mounts these files).
DOCKER_MOUNTINFO = f"""\
129 100 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X
146 129 254:0 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda rw
147 129 254:0 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/vda rw
148 129 254:0 /var/lib/docker/containers/{ID}/hosts /etc/hosts rw - ext4 /dev/vda rw
"""
DOCKER_CGROUP = f"9:name=systemd:/docker/{ID}\n8:pids:/docker/{ID}\n"
# The engine's HOST sees every container's shm mount: that is no evidence of being inside one.
HOST_MOUNTINFO = f"""\
31 1 254:0 / / rw,relatime - ext4 /dev/vda rw
88 31 0:60 / /var/lib/docker/containers/{ID}/mounts/shm rw - tmpfs shm rw,size=65536k
"""
PODMAN_MOUNTINFO = (
    f"701 690 0:44 /containers/storage/overlay-containers/{PODMAN_ID}/userdata/hostname "
    "/etc/hostname rw,nosuid - tmpfs tmpfs rw\n"
)


def test_the_container_id_comes_from_the_engines_bind_mounts_or_the_cgroup() -> None:
    assert container_id_candidates(DOCKER_MOUNTINFO, DOCKER_CGROUP, ID[:12]) == [ID, ID[:12]]
    assert container_id_candidates(PODMAN_MOUNTINFO, "0::/\n", "devbox") == [PODMAN_ID]
    # cgroup v2 hides the id from /proc/self/cgroup; mountinfo still has it.
    assert container_id_candidates(DOCKER_MOUNTINFO, "0::/\n", "dev") == [ID]
    # This very machine: /.dockerenv exists, but nothing says "container": no candidate.
    cgroup = "4:memory:/process_api/402aa170385231a0d65fc472b64df2c7\n0::/\n"
    assert container_id_candidates(HOST_MOUNTINFO, cgroup, "vm") == []


def container(**changes: Any) -> ContainerInfo:
    base = ContainerInfo(
        id=ID,
        name="devcontainer",
        image="python:3.12",
        status="running",
        running=True,
        exit_code=None,
        labels={},
        ports={1972: 40001, 52773: 40002},
        health=None,
        networks={"bridge": "172.17.0.5"},
        network_mode="bridge",
    )
    return replace(base, **changes)


class Engine(DockerEngine):
    """The network logic over containers the test defines (no engine)."""

    def __init__(self, *known: ContainerInfo) -> None:
        super().__init__(client_factory=lambda: None)
        self.known = {c.id: c for c in known}
        self.connected: list[tuple[str, str]] = []

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        return next((c for i, c in self.known.items() if i.startswith(container_id)), None)

    @property
    def _api(self) -> Any:
        engine = self

        class Api:
            def connect_container_to_network(self, container_id: str, network: str) -> None:
                engine.connected.append((container_id, network))

        return Api()


@pytest.fixture
def inside(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process, as seen from /proc, runs in container ID."""
    monkeypatch.setattr(net, "own_candidates", lambda: [ID, ID[:12]])
    monkeypatch.delenv("IRIS_ENVS_HOST", raising=False)
    monkeypatch.delenv("IRIS_ENVS_PUBLISH_ADDRESS", raising=False)


@pytest.mark.usefixtures("inside")
def test_a_container_the_engine_knows_shares_its_network() -> None:
    assert Engine(container()).client_network() == ClientNetwork(ID, "bridge")
    devnet = container(networks={"bridge": "172.17.0.5", "devnet": "10.5.0.2"})
    assert Engine(devnet).client_network() == ClientNetwork(ID, "devnet")


@pytest.mark.usefixtures("inside")
def test_not_a_container_of_this_engine_or_on_the_host_network() -> None:
    assert Engine().client_network() is None  # another engine's container (DinD), or none
    assert Engine(container(running=False)).client_network() is None
    assert Engine(container(network_mode="host", networks={"host": ""})).client_network() is None


@pytest.mark.usefixtures("inside")
def test_the_publish_address_or_host_override_switches_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IRIS_ENVS_PUBLISH_ADDRESS", "0.0.0.0")
    assert Engine(container()).client_network() is None
    monkeypatch.delenv("IRIS_ENVS_PUBLISH_ADDRESS")
    monkeypatch.setenv("IRIS_ENVS_HOST", "host.docker.internal")
    assert Engine(container()).client_network() is None


@pytest.mark.usefixtures("inside")
def test_iris_containers_join_the_network_once() -> None:
    iris = container(id="f" * 64, name="iris", networks={"bridge": "172.17.0.9"})
    devnet = container(networks={"devnet": "10.5.0.2"})
    engine = Engine(devnet, iris)
    assert engine.join_client_network(iris.id) == "devnet"
    assert engine.connected == [(iris.id, "devnet")]
    already = Engine(container(), iris)
    assert already.join_client_network(iris.id) == "bridge" and already.connected == []


def test_on_the_host_nothing_is_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net, "own_candidates", list)
    engine = Engine(container())
    assert engine.join_client_network(ID) is None and engine.connected == []


def test_choose_network_prefers_a_network_of_the_users_own() -> None:
    assert choose_network(["bridge", "compose_default"]) == "compose_default"
    assert choose_network(["podman"]) == "podman"
    assert choose_network([]) is None


def test_the_variables_name_the_address_on_the_shared_network(tmp_path: Path) -> None:
    spec = EnvSpec("app", project_root=tmp_path, password="pw")
    iris = container(networks={"bridge": "172.17.0.9", "devnet": "10.5.0.7"})
    shared = connection_environment(spec, iris, "iris-envs/app:k", network="devnet")
    assert (shared["IRIS_HOST"], shared["IRIS_PORT"], shared["IRIS_WEB_PORT"]) == (
        "10.5.0.7",
        "1972",
        "52773",
    )
    assert shared["IRIS_CONNECTION_STRING"] == "10.5.0.7:1972/USER"
    published = connection_environment(spec, iris, "iris-envs/app:k")
    assert (published["IRIS_PORT"], published["IRIS_WEB_PORT"]) == ("40001", "40002")
