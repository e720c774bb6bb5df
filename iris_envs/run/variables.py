"""The variables a test process sees (names shared with testcontainers-iris where they overlap)."""

from __future__ import annotations

from urllib.parse import quote

from iris_envs.config.spec import EnvSpec
from iris_envs.engine.host import engine_host
from iris_envs.engine.types import ContainerInfo
from iris_envs.instance.containers import SUPERSERVER_PORT, WEB_PORT

SECRET_VARIABLES = frozenset({"IRIS_PASSWORD", "IRIS_SQLALCHEMY_URL"})


def connection_environment(
    spec: EnvSpec, container: ContainerInfo, snapshot_ref: str, *, network: str | None = None
) -> dict[str, str]:
    """IRIS_* variables for a container of ``spec`` (see docs/running.md for each).

    With ``network`` (this process runs in a container on that network: engine/network.py)
    they name the container's address there and its own ports, not the published ones.
    """
    address = container.networks.get(network, "") if network else ""
    port: int | None
    web_port: int | None
    if address:
        host, port, web_port = address, SUPERSERVER_PORT, WEB_PORT
    else:
        port = container.ports.get(SUPERSERVER_PORT)
        web_port = container.ports.get(WEB_PORT)
        host = engine_host()  # 127.0.0.1 for a local engine, the host of a remote one
    variables = {
        "IRIS_HOST": host,
        "IRIS_PORT": str(port or ""),
        "IRIS_WEB_PORT": str(web_port or ""),
        "IRIS_NAMESPACE": spec.namespace,
        "IRIS_USERNAME": spec.username,
        "IRIS_PASSWORD": spec.password,
        "IRIS_CONNECTION_STRING": f"{host}:{port}/{spec.namespace}",
        "IRIS_SQLALCHEMY_URL": (
            f"iris://{quote(spec.username, safe='')}:{quote(spec.password, safe='')}"
            f"@{host}:{port}/{spec.namespace}"
        ),
        "IRIS_ENVS_ENV": spec.name,
        "IRIS_ENVS_CONTAINER": container.id,
        "IRIS_ENVS_SNAPSHOT": snapshot_ref,
    }
    return variables


def redacted(variables: dict[str, str]) -> dict[str, str]:
    """A copy safe to print: secret values replaced."""
    return {k: ("********" if k in SECRET_VARIABLES else v) for k, v in variables.items()}
