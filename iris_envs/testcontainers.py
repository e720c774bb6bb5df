"""``IRISEnvContainer``: a testcontainers ``DockerContainer`` started from an iris-envs snapshot.

A drop-in for testcontainers-iris users: the same attributes (``username``, ``password``,
``namespace``, ``get_connection_url()``, ``get_container_host_ip()``, ``get_exposed_port(1972)``)
and a context manager, but the container starts from the environment's warm snapshot, whose
passwords are unexpired. It carries iris-envs' labels, so when the process is killed and
testcontainers' Ryuk is disabled (``TESTCONTAINERS_RYUK_DISABLED=true``, common where its image
cannot be pulled) ``iris-envs gc`` still removes it. Ports are published on 127.0.0.1; inside a
container of the same engine IRIS is reached over that container's network (engine/network.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from testcontainers.core.container import DockerContainer

from iris_envs.instance.containers import (
    HOSTNAME,
    SUPERSERVER_PORT,
    WEB_PORT,
    Owner,
    container_labels,
)


class IRISEnvContainer(DockerContainer):
    """A container of an iris-envs environment's snapshot (built or reused on ``start()``)."""

    def __init__(
        self, env: str | None = None, *, config: str | Path | None = None, **kwargs: Any
    ) -> None:
        from iris_envs.config.load import load_project
        from iris_envs.config.selection import select_one
        from iris_envs.engine.discovery import discover

        self.spec = select_one(load_project(Path(config) if config else None), env)
        self.username = self.spec.username
        self.password = self.spec.password
        self.namespace = self.spec.namespace
        # The engine iris-envs chose (a Docker context, a Colima socket, ...), for testcontainers'
        # client too: left alone, it would pick its own (it ignores DOCKER_CONTEXT).
        self.endpoint = discover()
        client_kw = dict(kwargs.pop("docker_client_kw", None) or {})
        client_kw.setdefault("environment", self.endpoint.sdk_environment())
        client_kw.setdefault("use_ssh_client", self.endpoint.host.startswith("ssh://"))
        # testcontainers writes its own guess into os.environ["DOCKER_HOST"]; that would
        # override the context for everything else in this process: put it back.
        saved = os.environ.get("DOCKER_HOST")
        try:
            # The image is known once the snapshot exists (start()); the base image stands in.
            super().__init__(self.spec.image, docker_client_kw=client_kw, **kwargs)
        finally:
            if saved is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = saved
        for port in (SUPERSERVER_PORT, WEB_PORT):
            # A random host port on loopback only; the SDK takes (address, port) where
            # testcontainers' own annotation says int.
            self.ports[str(port)] = ("127.0.0.1", None)  # type: ignore[assignment]
        self.owner = Owner()
        self.network: str | None = None  # set by start() inside a container of the engine
        self.with_kwargs(
            hostname=HOSTNAME,
            labels=container_labels("run", self.spec, self.owner),
            platform=self.spec.platform,  # e.g. linux/amd64 under emulation on an arm64 engine
        )

    def start(self) -> IRISEnvContainer:
        """Ensure the snapshot, start a container of it, and wait until IRIS is ready."""
        from iris_envs.build.snapshot import ensure_snapshot
        from iris_envs.instance.readiness import WARM_CHECKS, wait_until_ready
        from iris_envs.progress import Reporter

        engine = self._engine()
        snapshot = ensure_snapshot(
            engine, self.spec, owner=self.owner, reporter=Reporter(self.spec.name)
        )
        self.image = snapshot.ref
        super().start()
        try:
            container_id = self.get_wrapped_container().id
            wait_until_ready(
                engine, container_id, timeout=self.spec.ready_timeout, checks=WARM_CHECKS
            )
            self.network = engine.join_client_network(container_id)
        except BaseException:
            self.stop()
            raise
        return self

    def _engine(self) -> Any:
        from iris_envs.engine.adapter import DockerEngine

        return DockerEngine(endpoint=self.endpoint)

    def get_container_host_ip(self) -> str:
        """Where IRIS is reached: 127.0.0.1 (or the remote engine's host) where the ports are
        published; inside a container of the same engine, its address on the shared network.

        iris-envs decides (engine/host.py, engine/network.py), as for `iris-envs run`:
        testcontainers' own guess (the docker bridge gateway inside a container) cannot reach
        ports published on loopback.
        """
        from iris_envs.engine.host import engine_host

        if self.network:
            info = self._engine().inspect_container(self.get_wrapped_container().id)
            address = info.networks.get(self.network, "") if info is not None else ""
            if address:
                return str(address)
        return engine_host()

    def get_exposed_port(self, port: int) -> int:
        """The published host port, or on a shared network the container's own port."""
        if self.network:
            return int(port)
        return int(super().get_exposed_port(port))

    def get_connection_url(self, host: str | None = None) -> str:
        """``iris://user:password@host:port/NAMESPACE``, as testcontainers-iris returns."""
        where = host or self.get_container_host_ip()
        port = self.get_exposed_port(SUPERSERVER_PORT)
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"iris://{user}:{password}@{where}:{port}/{self.namespace}"
