"""``IRISEnvContainer``: a testcontainers ``DockerContainer`` started from an iris-envs snapshot.

A drop-in for testcontainers-iris users: the same attributes (``username``, ``password``,
``namespace``, ``get_connection_url()``, ``get_container_host_ip()``, ``get_exposed_port(1972)``)
and a context manager, but the container starts from the environment's warm snapshot, whose
passwords are unexpired. It carries iris-envs' labels, so when the process is killed and
testcontainers' Ryuk is disabled (``TESTCONTAINERS_RYUK_DISABLED=true``, common where its image
cannot be pulled) ``iris-envs gc`` still removes it. Ports are published on 127.0.0.1.
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
        self.with_kwargs(
            hostname=HOSTNAME,
            labels=container_labels("run", self.spec, self.owner),
            platform=self.spec.platform,  # e.g. linux/amd64 under emulation on an arm64 engine
        )

    def start(self) -> IRISEnvContainer:
        """Ensure the snapshot, start a container of it, and wait until IRIS is ready."""
        from iris_envs.build.snapshot import ensure_snapshot
        from iris_envs.engine.adapter import DockerEngine
        from iris_envs.instance.readiness import WARM_CHECKS, wait_until_ready
        from iris_envs.progress import Reporter

        engine = DockerEngine(endpoint=self.endpoint)
        snapshot = ensure_snapshot(
            engine, self.spec, owner=self.owner, reporter=Reporter(self.spec.name)
        )
        self.image = snapshot.ref
        super().start()
        try:
            wait_until_ready(
                engine,
                self.get_wrapped_container().id,
                timeout=self.spec.ready_timeout,
                checks=WARM_CHECKS,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def get_container_host_ip(self) -> str:
        """Where the published ports are: 127.0.0.1, or the remote engine's host.

        testcontainers guesses the docker bridge gateway when it runs inside a container, but
        iris-envs publishes on loopback (engine/host.py decides, as for `iris-envs run`).
        """
        from iris_envs.engine.host import engine_host

        return engine_host()

    def get_connection_url(self, host: str | None = None) -> str:
        """``iris://user:password@host:port/NAMESPACE``, as testcontainers-iris returns."""
        where = host or self.get_container_host_ip()
        port = self.get_exposed_port(SUPERSERVER_PORT)
        user, password = quote(self.username, safe=""), quote(self.password, safe="")
        return f"iris://{user}:{password}@{where}:{port}/{self.namespace}"
