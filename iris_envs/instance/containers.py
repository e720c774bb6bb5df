"""How iris-envs creates IRIS containers: labels that identify the owner, ports, license mount."""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from iris_envs import naming
from iris_envs.cache.orphans import process_space
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.host import publish_address
from iris_envs.engine.types import ContainerSpec, Mount
from iris_envs.errors import ConfigError

SUPERSERVER_PORT = 1972
WEB_PORT = 52773
LICENSE_TARGET = "/usr/irissys/mgr/iris.key"
# A fixed hostname: IRIS records it, and a changing one makes the System Monitor warn.
HOSTNAME = "iris-envs"


@dataclass(frozen=True)
class Owner:
    """The iris-envs process that owns containers; gc removes those whose owner is gone."""

    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    # Where that pid means this process (cache/orphans.py): gc asks about it only from there.
    space: str = field(default_factory=process_space)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def container_labels(role: str, spec: EnvSpec, owner: Owner) -> dict[str, str]:
    """Labels on every container iris-envs starts (they override those a snapshot inherits)."""
    labels = dict(spec.labels)
    labels.update(
        {
            naming.LABEL_MANAGED: "true",
            naming.LABEL_ROLE: role,
            naming.LABEL_ENV: spec.name,
            naming.LABEL_OWNER_PID: str(owner.pid),
            naming.LABEL_OWNER_HOST: owner.host,
            naming.LABEL_OWNER_SPACE: owner.space,
            naming.LABEL_RUN_ID: owner.run_id,
            naming.LABEL_PROJECT: str(spec.project_root),
        }
    )
    return labels


def license_mounts(spec: EnvSpec) -> list[Mount]:
    """Bind-mount the license key read-only: a mounted key is never captured by docker commit."""
    if spec.license is None:
        return []
    path = spec.license.path
    if path.is_dir():
        raise ConfigError(
            f"environment {spec.name}: license key {path} (from {spec.license.source!r}) is a "
            "directory, not a key file",
            hint="point `license` at the iris.key file itself",
        )
    if not path.is_file():
        raise ConfigError(
            f"environment {spec.name}: license key {path} (from {spec.license.source!r}) "
            "does not exist",
            hint="point `license` at your iris.key, or set the environment variable it names",
        )
    return [Mount(path.resolve(), LICENSE_TARGET, read_only=True)]


def iris_container_spec(
    image: str,
    spec: EnvSpec,
    *,
    role: str,
    owner: Owner,
    name: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> ContainerSpec:
    """A container of ``image`` for ``spec``: ports on 127.0.0.1, license mounted, labelled."""
    return ContainerSpec(
        image=image,
        name=name,
        hostname=HOSTNAME,
        labels=container_labels(role, spec, owner),
        environment=dict(environment or {}),
        ports=(SUPERSERVER_PORT, WEB_PORT),
        publish_address=publish_address(),
        mounts=tuple(license_mounts(spec)),
        platform=spec.platform,
    )


def up_container_name(spec: EnvSpec) -> str:
    """``iris-envs-up-<env>-<project8>``: one `up` container per project AND environment, so two
    projects with an environment of the same name (every zero-config one is ``default``) never
    share a database."""
    project = hashlib.sha256(str(spec.project_root).encode("utf-8")).hexdigest()[:8]
    return f"{container_name('up', spec.name)}-{project}"


def container_name(role: str, env_name: str, owner: Owner | None = None) -> str:
    """Readable names: ``iris-envs-build-<env>-<run id>``; without an owner (the one `up`
    container of an environment) the stable ``iris-envs-up-<env>``."""
    env = naming.snapshot_repository(env_name).removeprefix(naming.SNAPSHOT_REPO_PREFIX)
    base = f"iris-envs-{role}-{env}"
    return base if owner is None else f"{base}-{owner.run_id}"
