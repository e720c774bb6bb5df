"""The documented process exit codes of the iris-envs command line."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes; a single environment's ``run`` passes its command's own code through."""

    OK = 0
    FAILED = 1  # the wrapped command or a session failed
    CONFIG_ERROR = 2  # configuration or usage error
    SELECTION_ERROR = 3  # unknown environment / empty selection
    DOCKER_UNAVAILABLE = 4  # Docker engine not reachable
    BUILD_FAILED = 5  # snapshot build failed (or missing with --no-build)
    NOT_READY = 6  # environment did not become ready in time
    INTERRUPTED = 130  # Ctrl-C / SIGINT / SIGTERM
