"""What the engine adapter returns and takes: plain, frozen records with no SDK types."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PullProgress = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class ImageInfo:
    """What the pipeline needs to know about an image."""

    id: str
    tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    labels: dict[str, str]
    created: str
    size: int
    os: str
    architecture: str
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    user: str = ""
    layers: tuple[str, ...] = ()  # RootFS.Layers: the diff IDs of its layers, base first

    @property
    def platform(self) -> str:
        """``linux/amd64``: the OS and architecture the image was built for."""
        return f"{self.os}/{self.architecture}"


@dataclass(frozen=True)
class ContainerInfo:
    """State of one container as the engine reports it."""

    id: str
    name: str
    image: str
    status: str  # created | running | exited | ...
    running: bool
    exit_code: int | None
    labels: dict[str, str]
    ports: dict[int, int]  # container port -> host port on 127.0.0.1
    health: str | None  # healthy | unhealthy | starting | None (no healthcheck)
    env: tuple[str, ...] = ()
    image_id: str = ""  # the id of the image it was created from
    networks: Mapping[str, str] = field(default_factory=dict)  # network name -> its address
    network_mode: str = ""  # "bridge", "host", a network's name, "container:<id>"
    created: str = ""  # when the engine created it: RFC 3339, UTC ("2026-12-04T13:12:25.1Z")


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host path into a container."""

    source: Path
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create a container; ports are published on 127.0.0.1 by default."""

    image: str
    name: str | None = None
    hostname: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    command: Sequence[str] | None = None
    ports: Sequence[int] = ()  # container TCP ports to publish on a random host port
    publish_address: str = "127.0.0.1"  # the host address they are published on
    mounts: Sequence[Mount] = ()
    user: str | None = None
    platform: str | None = None
    entrypoint: Sequence[str] | None = None  # overrides the image's (maintenance containers)


@dataclass(frozen=True)
class ExecResult:
    """Exit code and combined stdout/stderr of a command run in a container."""

    exit_code: int
    output: str


@dataclass(frozen=True)
class FileToCopy:
    """One host file or directory to copy into a container under ``name``."""

    source: Path
    name: str  # path relative to the destination directory
