"""nox integration: a session parametrized over iris-envs environments, each with a warm IRIS.

    import nox
    from iris_envs.nox import iris_session

    @iris_session(python="3.11", envs=["iris-2024.1", "iris-2025.1"])
    def tests(session: nox.Session, iris) -> None:
        session.install("-e", ".", "pytest", "iris-envs")  # iris-envs: the pytest plugin
        session.run("pytest", env=iris.environment)

Each environment is its own session, ``tests(iris-2025.1)``: ``nox -s 'tests(iris-2025.1)'``.

The container is started before the session body and removed after it, also when the body
fails; the IRIS_* variables are in ``iris.environment``, never in the noxfile. Environment
names are read from the project's configuration when the noxfile is loaded (no engine needed).
See docs/nox.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iris_envs.config.load import load_project
from iris_envs.config.selection import select_envs


@dataclass(frozen=True)
class IrisEnvironment:
    """What a session body gets: the environment's name and its connection variables."""

    name: str
    environment: dict[str, str] = field(repr=False)  # holds IRIS_PASSWORD: never print it

    @property
    def host(self) -> str:
        return self.environment["IRIS_HOST"]

    @property
    def port(self) -> int:
        return int(self.environment["IRIS_PORT"])


def environment_names(
    envs: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    config: str | Path | None = None,
) -> list[str]:
    """The selected environments' names (``envs``/``tags``, else the project's default list)."""
    project = load_project(Path(config) if config is not None else None)
    # Every name, broken ones included: their session reports the problem, the others run.
    return [spec.name for spec in select_envs(project, envs, tags, usable=False)]


# Loggers of libraries iris-envs drives (the docker SDK and its urllib3) that log every request
# to the engine at DEBUG.
CHATTY_LOGGERS = ("urllib3", "docker")


@contextmanager
def third_party_logs_quiet() -> Iterator[None]:
    """Keep the docker SDK's DEBUG lines out of a nox session's output, and leave no level changed.

    nox sets the root logger to DEBUG and quiets only its own dependencies (nox/logger.py
    ``setup_logging``: httpx, filelock, ...), so urllib3 would print a line per request to the
    engine. Loggers nobody configured (level NOTSET) are set to WARNING for the block and put
    back to NOTSET after it; one a user set a level on is left alone.
    """
    changed = []
    for name in CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
            changed.append(logger)
    try:
        yield
    finally:
        for logger in changed:
            logger.setLevel(logging.NOTSET)


def iris_session(
    *,
    envs: Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    config: str | Path | None = None,
    **session_options: Any,
) -> Callable[[Callable[..., None]], Any]:
    """``@nox.session(**session_options)`` over the selected environments; the body is called
    as ``body(session, iris)`` with an IrisEnvironment of a running container."""
    import nox

    names = environment_names(envs, tags, config)

    def decorate(body: Callable[..., None]) -> Any:
        def run(session: nox.Session, iris_env: str) -> None:
            from iris_envs.run.lifecycle import warm_instance

            project = load_project(Path(config) if config is not None else None)
            [spec] = select_envs(project, [iris_env], None)
            with third_party_logs_quiet(), warm_instance(spec) as instance:
                body(session, IrisEnvironment(spec.name, instance.variables))

        # Not functools.wraps: nox reads the signature, and run's (session, iris_env) is the one
        # it must call; the body's name and docstring are what `nox -l` shows. With ids, nox
        # names each session `NAME(<environment>)` (not `NAME(iris_env='...')`).
        run.__name__, run.__qualname__, run.__doc__ = body.__name__, body.__qualname__, body.__doc__
        parametrized = nox.parametrize("iris_env", names, ids=names)(run)
        return nox.session(**session_options)(parametrized)

    return decorate
