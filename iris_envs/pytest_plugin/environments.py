"""The pytest plugin's environments: ``IrisEnv`` (what a test sees) and the containers it started.

Imports only pytest, the standard library and ``iris_envs.naming`` (itself standard library only)
at module level, as the plugin itself: the rest of iris-envs (docker SDK included) is imported
on first use.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from iris_envs.naming import image_version

if TYPE_CHECKING:
    from iris_envs.run.instance import Instance


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
    # Every IRIS_* variable of this environment, as `iris-envs run` exports them (secrets too).
    variables: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> IrisEnv:
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
            variables={k: variables[k] for k in VARIABLE_NAMES if k in variables},
        )

    @property
    def version(self) -> str:
        """The IRIS version of the image, e.g. ``2025.1.0.223.0``: its
        ``org.opencontainers.image.version`` label, else ``com.intersystems.platform-version``
        without the leading ``:`` ADOCK shows it with (":2023.2.0.299.0")."""
        from iris_envs.engine.adapter import DockerEngine

        info = DockerEngine().inspect_container(self.container) if self.container else None
        return image_version(info.labels) if info else ""

    def run_objectscript(self, lines: Sequence[str], namespace: str | None = None) -> str:
        """Run ObjectScript lines in the container (``iris session`` as irisowner, in the
        environment's namespace unless ``namespace`` names another) and return what they wrote:
        no session banner, no prompts; line ends as ``\\n``; blank space at both ends removed.

        Raises ``iris_envs.instance.objectscript.ScriptFailed`` (with the IRIS error text) when
        a line fails; the lines after it do not run.
        """
        from iris_envs.engine.adapter import DockerEngine
        from iris_envs.instance.objectscript import run_session

        result = run_session(
            DockerEngine(),
            self.container,
            list(lines),
            namespace=namespace or self.namespace,
            what="run_objectscript",
            capture=True,
        )
        return result.written

    def in_namespace(self, namespace: str) -> IrisEnv:
        """The same instance seen from another namespace (its connection values to match)."""
        variables = clone_variables(self.variables, namespace)
        return dataclasses.replace(
            self,
            namespace=namespace,
            connection_string=variables.get("IRIS_CONNECTION_STRING", ""),
            sqlalchemy_url=variables.get("IRIS_SQLALCHEMY_URL", ""),
            variables=variables,
        )

    @contextmanager
    def fresh_namespace(self, size: int | None = None) -> Iterator[IrisEnv]:
        """``with env.fresh_namespace() as fresh:`` a pristine clone of this environment's
        namespace for the block (its data and code exactly the snapshot's), reset afterwards.

        For scripts and nox sessions; pytest tests use the ``iris_fresh`` fixture. Clones come
        from this process's pool for the container (``size`` kept ready, default the
        environment's ``clones``), made from the namespace as it is at the first use.
        """
        from iris_envs.run.clone_pool import DEFAULT_CLONES, shared_pool

        pool = shared_pool(self.container, self.namespace, size or DEFAULT_CLONES)
        with pool.fresh() as clone:
            yield self.in_namespace(clone.namespace)

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


# The variables `iris-envs run` exports (iris_envs.run.variables.connection_environment builds
# them; a unit test keeps the two lists equal). Named here: importing that module costs docker.
VARIABLE_NAMES = (
    "IRIS_HOST",
    "IRIS_PORT",
    "IRIS_WEB_PORT",
    "IRIS_NAMESPACE",
    "IRIS_USERNAME",
    "IRIS_PASSWORD",
    "IRIS_CONNECTION_STRING",
    "IRIS_SQLALCHEMY_URL",
    "IRIS_ENVS_ENV",
    "IRIS_ENVS_CONTAINER",
    "IRIS_ENVS_SNAPSHOT",
)


def clone_variables(variables: Mapping[str, str], namespace: str) -> dict[str, str]:
    """``IRIS_*`` variables of the same instance for another namespace."""
    changed = dict(variables)
    old = changed.get("IRIS_NAMESPACE", "")
    changed["IRIS_NAMESPACE"] = namespace
    for name in ("IRIS_CONNECTION_STRING", "IRIS_SQLALCHEMY_URL"):
        value = changed.get(name, "")
        if old and value.endswith("/" + old):
            changed[name] = value[: -len(old)] + namespace
    return changed


@contextmanager
def exported(variables: Mapping[str, str]) -> Iterator[None]:
    """``variables`` in ``os.environ`` for the block; what was there before is put back after."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Environments:
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

    def check(self, names: Sequence[str], option: str) -> None:
        """Raise pytest's usage error (exit 4, before any test) unless the project has every one
        of ``names`` (and its configuration loads)."""
        from iris_envs.config.selection import select_envs
        from iris_envs.errors import IrisEnvsError

        problem = ""
        try:
            select_envs(self.project(), names, None)
        except IrisEnvsError as error:
            problem = str(error)
        if problem:
            raise pytest.UsageError(f"iris-envs: {option}: {problem}")

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
