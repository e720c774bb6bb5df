"""Inside a container of the same engine (a devcontainer, a CI agent with the host's socket
mounted), ports published on the host's 127.0.0.1 are out of reach: IRIS is reached over a
network that container shares with it instead.

Detection, as testcontainers does it but not from ``/.dockerenv`` alone (that file exists on
some machines that are no container, and Podman writes ``/run/.containerenv`` instead): this
process's container id comes from the bind mounts of ``/etc/hostname`` and friends in
``/proc/self/mountinfo`` (``.../containers/<id>/hostname``, Docker and Podman, cgroup v1 and
v2), from ``/proc/self/cgroup`` (cgroup v1: ``/docker/<id>``), or from the hostname (Docker's
default is the id's first 12 characters); and only when the ENGINE knows a running container
by that id is this process inside one of its containers. ``IRIS_ENVS_HOST`` or
``IRIS_ENVS_PUBLISH_ADDRESS`` switch it off (engine/host.py: the user chose the address).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from iris_envs.engine.containers import ContainerOps
from iris_envs.engine.host import HOST_VARIABLE, PUBLISH_VARIABLE

PROC_SELF = Path("/proc/self")
# The engine bind-mounts these from its per-container folder (docker: /var/lib/docker/
# containers/<id>/hostname; podman: .../overlay-containers/<id>/userdata/hostname).
_ENGINE_FILES = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})
_MOUNT_ROOT_ID = re.compile(r"containers/([0-9a-f]{64})/")
_CGROUP_ID = re.compile(r"(?:docker|libpod)[-/]([0-9a-f]{64})")
_SHORT_ID = re.compile(r"[0-9a-f]{12}")
# The engines' default networks: another network of the container is preferred (a compose or
# devcontainer network is where its services are).
DEFAULT_NETWORKS = ("bridge", "podman")


@dataclass(frozen=True)
class ClientNetwork:
    """The container this process runs in, and the network IRIS containers join to be seen."""

    container: str
    network: str


def container_id_candidates(mountinfo: str, cgroup: str, hostname: str) -> list[str]:
    """Ids (or a 12-character prefix) this process's container may have, best first."""
    found: list[str] = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] in _ENGINE_FILES:
            match = _MOUNT_ROOT_ID.search(fields[3])
            if match:
                found.append(match.group(1))
    found += _CGROUP_ID.findall(cgroup)
    if _SHORT_ID.fullmatch(hostname):
        found.append(hostname)
    return list(dict.fromkeys(found))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""  # not Linux, or /proc not mounted: no evidence of a container


def own_candidates(proc: Path = PROC_SELF) -> list[str]:
    """This process's container id candidates, from /proc and the hostname."""
    return container_id_candidates(
        _read(proc / "mountinfo"), _read(proc / "cgroup"), socket.gethostname()
    )


def choose_network(networks: Iterable[str]) -> str | None:
    """The network of ours IRIS containers join: a user-defined one first, else the default."""
    names = list(networks)
    own = [n for n in names if n not in DEFAULT_NETWORKS]
    return (own or names)[0] if names else None


class NetworkOps(ContainerOps):
    """Finding the container this process runs in, and joining IRIS containers to its network."""

    _client_network: ClientNetwork | None = None
    _client_network_known = False  # looked for once per engine object

    def client_network(self) -> ClientNetwork | None:
        """The network to reach IRIS containers on when this process runs in a container of
        this engine (not on its host network); None otherwise, or when the user chose an
        address (IRIS_ENVS_HOST, IRIS_ENVS_PUBLISH_ADDRESS)."""
        if not self._client_network_known:
            self._client_network = self._find_client_network()
            self._client_network_known = True
        return self._client_network

    def _find_client_network(self) -> ClientNetwork | None:
        if os.environ.get(HOST_VARIABLE, "").strip() or os.environ.get(PUBLISH_VARIABLE, ""):
            return None
        for candidate in own_candidates():
            info = self.inspect_container(candidate)
            if info is None or not info.running:
                continue  # not a container of THIS engine (another engine's, or no container)
            if info.network_mode == "host" or info.network_mode.startswith("container:"):
                return None  # the host's (or another container's) loopback: 127.0.0.1 works
            network = choose_network(info.networks)
            return ClientNetwork(info.id, network) if network else None
        return None

    def join_client_network(self, container_id: str) -> str | None:
        """Connect the container to this process's network (see client_network), if it is not
        on it yet; the network's name, or None when ports are reached as published."""
        client = self.client_network()
        if client is None:
            return None
        info = self.inspect_container(container_id)
        if info is not None and client.network not in info.networks:
            with self._translate(f"connect container {container_id[:12]} to {client.network}"):
                self._api.connect_container_to_network(container_id, client.network)
        return client.network
