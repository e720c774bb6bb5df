"""The resolved, validated description of one IRIS test environment (the pipeline's currency)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from iris_envs.errors import Where

DEFAULT_IMAGE = "intersystemsdc/iris-community:latest-em"
DEFAULT_NAMESPACE = "USER"
DEFAULT_USERNAME = "test"
DEFAULT_ENV_NAME = "default"


class StepKind(str, Enum):
    """What a setup step does inside the build container, in the order the user listed it."""

    OBJECTSCRIPT = "objectscript"  # a file of direct-mode ObjectScript lines piped to iris session
    LOAD = "load"  # a class/routine file or directory: $SYSTEM.OBJ.Load / LoadDir
    SQL = "sql"  # a DDL file: $SYSTEM.SQL.Schema.ImportDDL
    GLOBALS = "globals"  # a %GOF globals export: %Library.Global.Import
    DAT = "dat"  # a directory holding an IRIS.DAT to mount as a database
    IPM = "ipm"  # an IPM/ZPM module name to install (needs an image with IPM)
    SHELL = "shell"  # a shell command run in the container as irisowner


@dataclass(frozen=True)
class SetupStep:
    """One ordered setup step; ``path`` is absolute on the host, ``source`` as the user wrote it."""

    index: int
    kind: StepKind
    source: str  # the path or module/command as written in the configuration (for messages)
    path: Path | None = None  # resolved host path for file/directory steps, None otherwise
    namespace: str | None = None  # namespace to run in; None means the environment's namespace
    options: tuple[tuple[str, str], ...] = ()  # kind-specific, e.g. (("flags", "ck"),)
    # Where the configuration declares it (full TOML key path, 1-based index): annotations point
    # there. Not part of what the step does, so not compared (nor in the cache key).
    key: tuple[str | int, ...] = field(default=(), compare=False)

    def option(self, name: str, default: str | None = None) -> str | None:
        """Return a kind-specific option by name."""
        return dict(self.options).get(name, default)

    def describe(self) -> str:
        """Name the step as errors and ``explain`` print it, e.g. ``setup[2] sql schema.sql``."""
        return f"setup[{self.index}] {self.kind.value} {self.source}"


class Edition(str, Enum):
    """IRIS edition; enterprise images need a license key mounted at run time."""

    COMMUNITY = "community"
    ENTERPRISE = "enterprise"


@dataclass(frozen=True)
class LicenseRef:
    """Where the license key comes from (a host path, maybe via ``$ENV_VAR``); never its content."""

    source: str  # as written: "iris.key" or "$IRIS_LICENSE_KEY"
    path: Path  # resolved host path (existence is checked when the key is mounted)


@dataclass(frozen=True)
class EnvSpec:
    """A fully resolved environment. Constructing it does no I/O; the config loader validates."""

    name: str
    image: str = DEFAULT_IMAGE
    edition: Edition = Edition.COMMUNITY
    license: LicenseRef | None = None
    namespace: str = DEFAULT_NAMESPACE
    username: str = DEFAULT_USERNAME
    password: str = field(default="", repr=False)  # secret: never print, never put in an image
    password_generated: bool = False  # True when omitted: the documented default password
    setup: tuple[SetupStep, ...] = ()
    cpf_merge: Path | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()  # extra labels put on containers (run-only)
    platform: str | None = None  # e.g. "linux/amd64"; None = the engine's default
    ready_timeout: float = 300.0  # seconds to wait for readiness (run-only)
    spares: int = 0  # warm spare containers kept after each run (run-only)
    spare_max_age: float = 24 * 3600.0  # seconds before an unused spare is removed (run-only)
    clones: int = 2  # clone namespaces kept ready per container for iris_fresh (run-only)
    monitor: str = ""  # "" | "sampling" | "systemperformance" (run-only)
    monitor_interval: float = 1.0  # seconds between samples (run-only)
    monitor_min_free_memory: int = 256 * 1000**2  # bytes; below it monitoring backs off
    monitor_min_free_disk: int = 1000**3  # bytes; below it monitoring backs off
    project_root: Path = field(default_factory=Path.cwd)
    config_file: Path | None = None  # None for zero-configuration
    # Why this environment cannot be used (an input file is missing), or None: selecting it
    # reports the problem (selection.select_envs), `list` shows it, other environments work.
    problem: str | None = None
    problem_where: Where | None = field(default=None, compare=False)  # its file and key path

    @property
    def is_enterprise(self) -> bool:
        """True when the image needs a license key."""
        return self.edition is Edition.ENTERPRISE


@dataclass(frozen=True)
class CacheSettings:
    """The ``[cache]`` table: where snapshots are shared, and when run/build prune."""

    registry: str | None = None  # host[:port][/path]; credentials only from `docker login`
    max_size: int | None = None  # bytes; run/build prune least recently used snapshots past it


@dataclass(frozen=True)
class Project:
    """All environments a configuration declares, in declaration order."""

    root: Path
    config_file: Path | None
    envs: dict[str, EnvSpec]
    default: tuple[str, ...]  # names selected when neither -e nor -m is given
    cache: CacheSettings = field(default_factory=CacheSettings)
