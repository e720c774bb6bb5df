"""pytest plugin: warm IRIS containers as fixtures (``iris_env``, ``iris_connection``, ...).

It costs nothing unless a test uses its fixtures: importing it imports only pytest and the
standard library. Where the environment comes from, in this order:

1. the ``IRIS_*`` variables ``iris-envs run`` sets: the plugin starts nothing;
2. ``pytest --iris-env NAME`` (or the ini option ``iris_env = NAME``): the snapshot is built or
   reused and a container started with the same code ``iris-envs run`` uses, once per pytest
   process (so once per pytest-xdist worker: workers never share an instance), and removed at
   the end of the session, also after Ctrl-C; ``--iris-env a,b`` runs every test once per
   environment, with the name in the test id. A name the project does not have is a usage
   error before any test runs;
3. ``@pytest.mark.iris_env("NAME")`` on a module or class: those tests use that environment.

With the ini option ``iris_unittest = <folder>`` (or, without it, the ``<UnitTest>`` folders of
an IPM module.xml beside the ini file) it also collects the ObjectScript %UnitTest classes there
and runs them in the environment's container (``objectscript.py``).

The ``IRIS_*`` variables are in ``os.environ`` as under ``iris-envs run``: with one
``--iris-env NAME`` for the whole session (its container starts before the first test), and
during each test that uses ``iris_env``, those of that test's environment.

See docs/pytest.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iris_envs.pytest_plugin import isolation
from iris_envs.pytest_plugin.environments import Environments, IrisEnv, exported
from iris_envs.pytest_plugin.objectscript import (
    ENVIRONMENT,
    UnitTestFile,
    add_ini,
    check_folders,
    collect_file,
)
from iris_envs.pytest_plugin.objectscript import header as objectscript_header

__all__ = ["IrisEnv"]

_STATE = pytest.StashKey[Environments]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("iris-envs", "warm IRIS containers from iris-envs snapshots")
    group.addoption(
        "--iris-env",
        dest="iris_env",
        default=None,
        metavar="NAME[,NAME]",
        help="start (or reuse the snapshot of) these iris-envs environments for the iris_env "
        "fixtures; several run every test once per environment",
    )
    group.addoption(
        "--iris-keep-on-failure",
        dest="iris_keep_on_failure",
        action="store_true",
        help="keep the containers when a test failed, and print how to get in",
    )
    parser.addini("iris_env", "iris-envs environment(s) for the iris_env fixtures", default="")
    isolation.add_options(parser)
    add_ini(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "iris_env(name): run these tests against this iris-envs environment"
    )
    config.addinivalue_line(
        "markers",
        "iris_fixtures(*folders, mount='namespace'): these tests get a container of a snapshot "
        "that also holds these .DAT fixture folders (paths relative to the project root)",
    )
    config.addinivalue_line("markers", isolation.marker_line())
    config.stash[_STATE] = Environments(config)
    config.stash[isolation.CLONES] = isolation.Clones(config)
    config.stash[ENVIRONMENT] = lambda: objectscript_environment(config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The session's containers go when its tests are done, not at unconfigure: an xdist
    worker reports itself finished right after this hook, and the controller's teardown then
    gives it 5 s (execnet's _terminate_execution) before interrupting it with SIGINT; a worker
    still importing or collecting garbage in that window had its removal cut off, and left its
    container running (seen under load on Docker and on Podman)."""
    _close(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _close(config)  # without a session finished (an error before it); else a no-op


def _close(config: pytest.Config) -> None:
    clones = config.stash.get(isolation.CLONES, None)
    if clones is not None:
        clones.close()  # the pools' threads first: their containers go next
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()  # also after Ctrl-C: pytest finishes the session on KeyboardInterrupt too


def _option_value(config: pytest.Config) -> str:
    return str(config.getoption("iris_env") or config.getini("iris_env") or "")


def _requested(config: pytest.Config) -> list[str]:
    from iris_envs.config.selection import split_names

    value = _option_value(config)
    return split_names([value]) if value else []


def pytest_sessionstart(session: pytest.Session) -> None:
    """An unknown ``--iris-env`` name (or a configuration that does not load) is one usage error
    now (pytest exits 4), not an error in every test that needs the environment."""
    check_folders(session.config)
    value = _option_value(session.config)
    if value:
        option = f"--iris-env {value}" if session.config.getoption("iris_env") else "iris_env"
        session.config.stash[_STATE].check([value], option)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> UnitTestFile | None:
    """ObjectScript %UnitTest classes under the ``iris_unittest`` folders (objectscript.py)."""
    return collect_file(file_path, parent)


def objectscript_environment(config: pytest.Config) -> IrisEnv:
    """Where ObjectScript tests run: ``iris-envs run``'s container, else the one ``--iris-env
    NAME`` names (started on first use, as for the fixtures). Fails the test otherwise."""
    requested = _requested(config)
    env: IrisEnv | None = None
    if os.environ.get("IRIS_ENVS_CONTAINER") and _provided_by_run(config):
        env = IrisEnv.from_variables(dict(os.environ))
    elif len(requested) == 1:
        env = config.stash[_STATE].get(requested[0])
    if env is not None:
        # As for the fixtures: the pool (its pristine copies) starts with the container when
        # any test is isolated, before a class can write to the namespace.
        config.stash[isolation.CLONES].started(env)
        return env
    problem = (
        "ObjectScript tests run in one environment; pass one --iris-env NAME"
        if requested
        else "ObjectScript tests need an environment: run `iris-envs run -- pytest`, or pass "
        "`--iris-env NAME` (or set `iris_env = NAME` in the pytest ini)"
    )
    pytest.fail(f"iris-envs: {problem}", pytrace=False)


def _provided_by_run(config: pytest.Config) -> bool:
    """Does ``iris-envs run`` already provide what was requested (or was nothing requested)?"""
    requested = _requested(config)
    run_env = os.environ.get("IRIS_ENVS_ENV")
    return not requested or (bool(os.environ.get("IRIS_ENVS_CONTAINER")) and requested == [run_env])


def pytest_report_header(config: pytest.Config) -> list[str]:
    environment = _environment_header(config)
    return ([environment] if environment else []) + objectscript_header(config)


def _environment_header(config: pytest.Config) -> str | None:
    requested = _requested(config)
    if os.environ.get("IRIS_ENVS_CONTAINER") and not requested:
        return (
            f"iris-envs: environment {os.environ.get('IRIS_ENVS_ENV', '?')} from iris-envs run "
            f"({os.environ.get('IRIS_HOST')}:{os.environ.get('IRIS_PORT')}, "
            f"snapshot {os.environ.get('IRIS_ENVS_SNAPSHOT', '?')})"
        )
    if len(requested) == 1:
        return (
            f"iris-envs: environment(s) {requested[0]} (started before the first test; "
            "its IRIS_* variables exported)"
        )
    if requested:
        return f"iris-envs: environment(s) {', '.join(requested)} (started on first use)"
    return None


@dataclass(frozen=True)
class _WithFixtures:
    """The ``iris_env`` parameter of tests marked ``iris_fixtures``."""

    env: str | None
    fixtures: tuple[str, ...]
    mount: str


def _fixtures_marker(metafunc: pytest.Metafunc) -> tuple[tuple[str, ...], str] | None:
    marker = metafunc.definition.get_closest_marker("iris_fixtures")
    if marker is None:
        return None
    unknown = set(marker.kwargs) - {"mount"}
    if unknown or not marker.args:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: @pytest.mark.iris_fixtures takes fixture folder "
            "paths and an optional mount= ('namespace', 'database' or 'globals:PATTERN')"
            + (f"; unknown argument(s) {', '.join(sorted(unknown))}" if unknown else "")
        )
    return tuple(str(folder) for folder in marker.args), str(
        marker.kwargs.get("mount", "namespace")
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "iris_env" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("iris_env")
    names = [str(marker.args[0])] if marker else _requested(metafunc.config)
    fixtures = _fixtures_marker(metafunc)
    if fixtures is not None:
        folders, mount = fixtures
        chosen: list[str | None] = [*names] or [os.environ.get("IRIS_ENVS_ENV") or None]
        params = [_WithFixtures(name, folders, mount) for name in chosen]
        ids = [f"{name or 'env'}+fixtures" for name in chosen]
        metafunc.parametrize("iris_env", params, indirect=True, ids=ids, scope="session")
    elif marker or len(names) > 1:
        metafunc.parametrize("iris_env", names, indirect=True, ids=names, scope="session")


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Whether any test needs clones: then each container's pool starts with the container,
    before any test can write to the namespace they copy. A bad iris_isolation is a usage error."""
    config.stash[isolation.CLONES].wanted = isolation.wants_clones(items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: Any = yield
    if report.failed:  # remembered for --iris-keep-on-failure
        item.config.stash[_STATE].failed = True
        item.stash[isolation.FAILED] = True
        isolation.report_section(item, report)
    return report  # type: ignore[no-any-return]


@pytest.fixture(scope="session", autouse=True)
def _iris_envs_session_variables(request: pytest.FixtureRequest) -> Iterator[None]:
    """With one ``--iris-env NAME``: its ``IRIS_*`` variables in ``os.environ`` for the session
    (as ``iris-envs run`` exports them), so application code and a no-argument
    ``iris_envs.connect()`` see the same world. With several there is no one environment for
    the session: each test that uses ``iris_env`` gets its own (below)."""
    requested = _requested(request.config)
    if len(requested) != 1 or _provided_by_run(request.config):
        yield
        return
    env = request.config.stash[_STATE].get(requested[0])
    with exported(env.variables):
        yield


@pytest.fixture(autouse=True)
def _iris_envs_test_variables(request: pytest.FixtureRequest) -> Iterator[None]:
    """During a test that uses ``iris_env``: that environment's ``IRIS_*`` variables (with
    ``--iris-env a,b`` or a marker, another environment's than the session's)."""
    if "iris_env" not in request.fixturenames:
        yield
        return
    env: IrisEnv = request.getfixturevalue("iris_env")
    if isolation.isolation_of(request.node) != "namespace":
        with exported(env.variables):
            yield
        return
    # Under iris_isolation("namespace") the test's own clone: iris_env (and so iris_connection
    # and iris_cursor, made after this) point at it for the test.
    keep = bool(request.config.getoption("iris_keep_on_failure"))
    clones = request.config.stash[isolation.CLONES]
    with (
        clones.claimed(env, request.node, keep_on_failure=keep) as namespace,
        isolation.following(env, namespace),
        exported(env.variables),
    ):
        yield


@pytest.fixture(scope="session")
def iris_env(request: pytest.FixtureRequest) -> IrisEnv:
    """The running IRIS of the environment (session scope; one container per pytest process)."""
    param = getattr(request, "param", None)
    with_fixtures = param if isinstance(param, _WithFixtures) else None
    name: str | None = with_fixtures.env if with_fixtures else param
    requested = _requested(request.config)
    run_env = os.environ.get("IRIS_ENVS_ENV")
    # Under `iris-envs run` the environment's container is already there: start nothing.
    if (
        with_fixtures is None
        and os.environ.get("IRIS_ENVS_CONTAINER")
        and name in (None, run_env)
        and (not requested or requested == [run_env])
    ):
        env = IrisEnv.from_variables(dict(os.environ))
        request.config.stash[isolation.CLONES].started(env)
        return env
    name = name or (requested[0] if requested else None)
    if name is None:
        raise pytest.UsageError(
            "the iris_env fixture has no environment: run the tests with `iris-envs run -- "
            "pytest`, or pass `--iris-env NAME` (or set `iris_env = NAME` in the pytest ini)"
        )
    state = request.config.stash[_STATE]
    if with_fixtures is not None:
        env = state.get(name, with_fixtures.fixtures, with_fixtures.mount)
    else:
        env = state.get(name)
    request.config.stash[isolation.CLONES].started(env)
    return env


@pytest.fixture
def fresh_iris_env(request: pytest.FixtureRequest, iris_env: IrisEnv) -> Iterator[IrisEnv]:
    """A new container of the same environment (and fixtures), for a test that must not share
    state."""
    from iris_envs.run.lifecycle import warm_instance

    state = request.config.stash[_STATE]
    callspec = getattr(request.node, "callspec", None)
    param = callspec.params.get("iris_env") if callspec is not None else None
    if isinstance(param, _WithFixtures):
        base = state.spec(param.env or os.environ.get("IRIS_ENVS_ENV", ""))
        spec = state.derived_spec(base, param.fixtures, param.mount)
    else:
        spec = state.spec(iris_env.env)
    with warm_instance(spec) as instance:
        yield IrisEnv.from_variables(instance.variables)


@pytest.fixture
def iris_fresh(request: pytest.FixtureRequest, iris_env: IrisEnv) -> Iterator[IrisEnv]:
    """The environment seen from a pristine clone of its namespace, for this test only: its data
    and code are the snapshot's, nothing another test wrote is there, and what this test writes
    is gone after it (the clone is reset in the background). ``iris_fresh.run_objectscript``
    and ``iris_fresh.connect()`` use the clone."""
    keep = bool(request.config.getoption("iris_keep_on_failure"))
    clones = request.config.stash[isolation.CLONES]
    with clones.claimed(iris_env, request.node, keep_on_failure=keep) as namespace:
        yield iris_env.in_namespace(namespace)


@pytest.fixture
def iris_connection(iris_env: IrisEnv) -> Iterator[Any]:
    """A DB-API connection (intersystems-irispython), closed after the test."""
    connection = iris_env.connect()
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
def iris_cursor(iris_connection: Any) -> Iterator[Any]:
    """A cursor of ``iris_connection``."""
    cursor = iris_connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


@pytest.fixture
def iris_transaction(iris_connection: Any) -> Iterator[Any]:
    """``iris_connection`` with autocommit off, rolled back after the test."""
    iris_connection.autocommit = False
    try:
        yield iris_connection
    finally:
        iris_connection.rollback()
