"""pytest plugin: warm IRIS containers as fixtures (``iris_env``, ``iris_connection``, ...).

It costs nothing unless a test uses its fixtures: importing it imports only pytest and the
standard library. Where the environment comes from, in this order:

1. the ``IRIS_*`` variables ``iris-envs run`` sets: the plugin starts nothing;
2. ``pytest --iris-env NAME`` (or the ini option ``iris_env = NAME``): the snapshot is built or
   reused and a container started with the same code ``iris-envs run`` uses, once per pytest
   process (so once per pytest-xdist worker: workers never share an instance), and removed at
   the end of the session, also after Ctrl-C; ``--iris-env a,b`` runs every test once per
   environment, with the name in the test id;
3. ``@pytest.mark.iris_env("NAME")`` on a module or class: those tests use that environment.

See docs/pytest.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from iris_envs.run.instance import Instance

_STATE = pytest.StashKey["_Environments"]()


@dataclass(frozen=True)
class IrisEnv:
    """A running IRIS of one environment, as tests see it."""

    env: str
    host: str
    port: int
    web_port: int | None
    namespace: str
    username: str
    password: str = field(repr=False)
    connection_string: str = ""
    sqlalchemy_url: str = field(default="", repr=False)
    container: str = ""
    snapshot: str = ""

    @classmethod
    def from_variables(cls, variables: dict[str, str]) -> IrisEnv:
        web = variables.get("IRIS_WEB_PORT", "")
        return cls(
            env=variables.get("IRIS_ENVS_ENV", ""),
            host=variables["IRIS_HOST"],
            port=int(variables["IRIS_PORT"]),
            web_port=int(web) if web else None,
            namespace=variables["IRIS_NAMESPACE"],
            username=variables["IRIS_USERNAME"],
            password=variables["IRIS_PASSWORD"],
            connection_string=variables.get("IRIS_CONNECTION_STRING", ""),
            sqlalchemy_url=variables.get("IRIS_SQLALCHEMY_URL", ""),
            container=variables.get("IRIS_ENVS_CONTAINER", ""),
            snapshot=variables.get("IRIS_ENVS_SNAPSHOT", ""),
        )

    @property
    def version(self) -> str:
        """The IRIS version of the image (its ``com.intersystems.platform-version`` label)."""
        from iris_envs.engine.adapter import DockerEngine

        info = DockerEngine().inspect_container(self.container) if self.container else None
        return info.labels.get("com.intersystems.platform-version", "") if info else ""

    def run_objectscript(self, lines: list[str], namespace: str | None = None) -> str:
        """Run ObjectScript lines in the container (marker-checked ``iris session``)."""
        from iris_envs.engine.adapter import DockerEngine
        from iris_envs.instance.objectscript import run_session

        result = run_session(
            DockerEngine(), self.container, lines, namespace=namespace or self.namespace
        )
        return result.output

    def connect(self) -> Any:
        """A DB-API connection (iris_envs.connect), past first-login password expiry."""
        from iris_envs.dbapi import connect

        return connect(
            self.host,
            self.port,
            self.namespace,
            self.username,
            self.password,
            container=self.container or None,
        )


class _Environments:
    """The containers this pytest process started, per environment; removed at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.stack = ExitStack()
        # (environment, fixture folders, mount) -> its container
        self.running: dict[tuple[str, tuple[str, ...], str], Instance] = {}
        self.failed = False

    def project(self) -> Any:
        from iris_envs.config.load import load_project

        return load_project(None, cwd=self.config.rootpath)

    def spec(self, name: str) -> Any:
        from iris_envs.config.selection import select_one

        return select_one(self.project(), name)

    def get(self, name: str, fixtures: tuple[str, ...] = (), mount: str = "namespace") -> IrisEnv:
        """The session's container of ``name`` (with ``fixtures``: of its derived snapshot that
        holds them), started on first use, removed at the end."""
        from iris_envs.errors import IrisEnvsError
        from iris_envs.run.lifecycle import warm_instance

        key = (name, fixtures, mount)
        problem = ""
        if key not in self.running:
            try:
                spec = self.spec(name)
                if fixtures:
                    spec = self.derived_spec(spec, fixtures, mount)
                manager = warm_instance(spec, keep=self.keep_on_failure)
                self.running[key] = self.stack.enter_context(manager)
            except IrisEnvsError as error:
                problem = str(error)
        if problem:
            # What went wrong and how to fix it, as the CLI says it; no traceback.
            pytest.fail(f"iris-envs: {problem}", pytrace=False)
        return IrisEnv.from_variables(self.running[key].variables)

    def derived_spec(self, spec: Any, fixtures: tuple[str, ...], mount: str) -> Any:
        """``spec`` plus the fixtures, built FROM ``spec``'s snapshot (built or reused first)."""
        from iris_envs.build.snapshot import ensure_snapshot
        from iris_envs.engine.adapter import DockerEngine
        from iris_envs.fixtures.derived import derive
        from iris_envs.instance.containers import Owner
        from iris_envs.progress import Reporter

        base = ensure_snapshot(DockerEngine(), spec, owner=Owner(), reporter=Reporter(spec.name))
        return derive(spec, base.ref, fixtures, mount=mount)

    def keep_on_failure(self) -> bool:
        return bool(self.config.getoption("iris_keep_on_failure")) and self.failed

    def close(self) -> None:
        self.stack.close()


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "iris_env(name): run these tests against this iris-envs environment"
    )
    config.addinivalue_line(
        "markers",
        "iris_fixtures(*folders, mount='namespace'): these tests get a container of a snapshot "
        "that also holds these .DAT fixture folders (paths relative to the project root)",
    )
    config.stash[_STATE] = _Environments(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()  # also after Ctrl-C: pytest unconfigures on KeyboardInterrupt too


def _requested(config: pytest.Config) -> list[str]:
    from iris_envs.config.selection import split_names

    value = config.getoption("iris_env") or str(config.getini("iris_env") or "")
    return split_names([value]) if value else []


def pytest_report_header(config: pytest.Config) -> str | None:
    requested = _requested(config)
    if os.environ.get("IRIS_ENVS_CONTAINER") and not requested:
        return (
            f"iris-envs: environment {os.environ.get('IRIS_ENVS_ENV', '?')} from iris-envs run "
            f"({os.environ.get('IRIS_HOST')}:{os.environ.get('IRIS_PORT')}, "
            f"snapshot {os.environ.get('IRIS_ENVS_SNAPSHOT', '?')})"
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: Any = yield
    if report.failed:  # remembered for --iris-keep-on-failure
        item.config.stash[_STATE].failed = True
    return report  # type: ignore[no-any-return]


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
        return IrisEnv.from_variables(dict(os.environ))
    name = name or (requested[0] if requested else None)
    if name is None:
        raise pytest.UsageError(
            "the iris_env fixture has no environment: run the tests with `iris-envs run -- "
            "pytest`, or pass `--iris-env NAME` (or set `iris_env = NAME` in the pytest ini)"
        )
    state = request.config.stash[_STATE]
    if with_fixtures is not None:
        return state.get(name, with_fixtures.fixtures, with_fixtures.mount)
    return state.get(name)


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
