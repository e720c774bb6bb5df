"""Domain exceptions, each carrying the exit code the CLI turns it into."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from iris_envs.exit_codes import ExitCode


@dataclass(frozen=True)
class Where:
    """The place in a configuration file an error is about: the file, the TOML key path (with
    ``tool.iris-envs`` in pyproject.toml; array indexes 1-based) and, once known, its line.
    GitHub annotations point there (config/locate.py finds the line)."""

    file: Path
    key: tuple[str | int, ...] = ()
    line: int | None = None


class IrisEnvsError(Exception):
    """Base of every error the CLI reports as ``error: message`` plus an optional hint."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(
        self, message: str, *, hint: str | None = None, where: Where | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where  # the configuration line the error is about, when there is one

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(IrisEnvsError):
    """The configuration file or the command line is wrong: fix the input and retry."""

    exit_code = ExitCode.CONFIG_ERROR


class CacheFolderError(ConfigError):
    """The cache folder cannot be created or written (read-only, full, not a folder)."""


class OutputFolderError(ConfigError):
    """A folder named for output (``fixture create -o``) cannot be written: full, read-only,
    or removed meanwhile."""


class UnknownEnvironment(IrisEnvsError):
    """A selected environment name or tag matches nothing in the configuration."""

    exit_code = ExitCode.SELECTION_ERROR


class DockerUnavailable(IrisEnvsError):
    """The Docker engine cannot be reached: start it, or point DOCKER_HOST at one."""

    exit_code = ExitCode.DOCKER_UNAVAILABLE


class DockerOperationFailed(IrisEnvsError):
    """The engine answered, but refused an operation (missing image, name clash, ...)."""

    exit_code = ExitCode.FAILED


class NotFoundInEngine(DockerOperationFailed):
    """The image or container an operation names does not exist (the engine said 404)."""


class ImageNotFound(NotFoundInEngine):
    """An image reference is not present in the engine."""


class BuildFailed(IrisEnvsError):
    """A snapshot could not be built; nothing was tagged and the build container is gone."""

    exit_code = ExitCode.BUILD_FAILED
    build_log: Path | None = None  # the attempt's log in the cache folder, once it had one


class SnapshotRefused(IrisEnvsError):
    """A snapshot from outside (a registry, an archive) failed a check: it is not used or tagged."""

    exit_code = ExitCode.BUILD_FAILED


class NotReady(IrisEnvsError):
    """A container did not become ready in time (the message carries its last log lines)."""

    exit_code = ExitCode.NOT_READY


class Interrupted(IrisEnvsError):
    """The user pressed Ctrl-C or the process got SIGTERM; cleanup has already run."""

    exit_code = ExitCode.INTERRUPTED
