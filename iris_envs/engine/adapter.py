"""The Docker adapter: DockerEngine, the only object in iris-envs that talks to the engine."""

from __future__ import annotations

from iris_envs.engine.archive import FileOps
from iris_envs.engine.containers import ContainerOps
from iris_envs.engine.exec import ExecOps
from iris_envs.engine.images import ImageOps
from iris_envs.engine.network import NetworkOps


class DockerEngine(ImageOps, NetworkOps, ContainerOps, ExecOps, FileOps):
    """Facade over the docker SDK; creating one does no I/O (the client connects on first use).

    Its operations live in one module per kind (images, containers and their networks, exec,
    archive), over the shared connection and error translation of client.EngineClient.
    """
