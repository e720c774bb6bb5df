"""Where the engine's published ports are reached, and on which address they are published.

With a local engine (a unix socket) containers publish on 127.0.0.1 and tests connect there.
With ``DOCKER_HOST=tcp://HOST:PORT`` or ``ssh://user@HOST`` (or a Docker context naming such an
endpoint: engine/discovery.py) the containers run on HOST, so the connection variables must
name HOST; and a port published on HOST's 127.0.0.1 is not reachable
from here, so ``IRIS_ENVS_PUBLISH_ADDRESS`` chooses the address on HOST (docs/running.md).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from iris_envs.engine.discovery import configured_host

LOCALHOST = "127.0.0.1"
HOST_VARIABLE = "IRIS_ENVS_HOST"  # override the address tests connect to
PUBLISH_VARIABLE = "IRIS_ENVS_PUBLISH_ADDRESS"  # the address ports are published on


def engine_host(docker_host: str | None = None) -> str:
    """The host a test process connects to: $IRIS_ENVS_HOST, else the engine's host (that of
    DOCKER_HOST or of the current Docker context; 127.0.0.1 for a socket)."""
    override = os.environ.get(HOST_VARIABLE, "").strip()
    if override:
        return override
    value = (configured_host() if docker_host is None else docker_host).strip()
    if not value or value.startswith(("unix://", "npipe://", "fd://")):
        return LOCALHOST
    host = urlsplit(value if "://" in value else f"tcp://{value}").hostname
    return host or LOCALHOST


def publish_address() -> str:
    """The address containers publish their ports on: 127.0.0.1 unless told otherwise.

    A test database must not be reachable from the network by default; on a remote engine a
    user either tunnels (`ssh -L`) to its 127.0.0.1 and sets IRIS_ENVS_HOST=127.0.0.1, or sets
    IRIS_ENVS_PUBLISH_ADDRESS to an address of the remote host (a trusted network only).
    """
    return os.environ.get(PUBLISH_VARIABLE, "").strip() or LOCALHOST
