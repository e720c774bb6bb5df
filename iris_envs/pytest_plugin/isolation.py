"""A pristine namespace per test: the ``iris_fresh`` fixture, the ``iris_isolation`` marker and
ini option, and the clone pools behind them (iris_envs.run.clone_pool).

A test that asks for ``iris_fresh`` gets an ``IrisEnv`` whose namespace is a clone of the
environment's namespace, claimed from the container's pool (made in the background) and reset
after the test. Under ``@pytest.mark.iris_isolation("namespace")`` (or ``iris_isolation =
namespace`` in the ini file) ``iris_env``, ``iris_connection`` and ``iris_cursor`` follow the
test's clone too: for the test, the session's ``IrisEnv`` points at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from iris_envs.pytest_plugin.environments import IrisEnv

if TYPE_CHECKING:
    from iris_envs.run.clone_pool import ClonePool

ISOLATION_MODES = ("namespace",)
CLONE_NAMESPACE = pytest.StashKey[str]()
CLONE_KEPT = pytest.StashKey[bool]()
FAILED = pytest.StashKey[bool]()


def add_options(parser: pytest.Parser) -> None:
    parser.addini(
        "iris_isolation",
        "'namespace': every test gets a pristine clone of the environment's namespace "
        "(iris_env, iris_connection and iris_cursor follow it)",
        default="",
    )


def marker_line() -> str:
    return (
        "iris_isolation(mode): 'namespace' gives each test a pristine clone of the "
        "environment's namespace (iris_env, iris_connection and iris_cursor follow it)"
    )


def isolation_of(item: pytest.Item) -> str:
    """``namespace`` when the test runs in its own clone, "" when it shares the namespace."""
    marker = item.get_closest_marker("iris_isolation")
    if marker is not None:
        mode = str(marker.args[0]) if marker.args else ""
    else:
        mode = str(item.config.getini("iris_isolation") or "").strip()
    if mode and mode not in ISOLATION_MODES:
        raise pytest.UsageError(
            f"{item.nodeid}: iris_isolation {mode!r} is not one of {', '.join(ISOLATION_MODES)}"
            " (or leave it out to share the environment's namespace)"
        )
    return mode


def wants_clones(items: list[pytest.Item]) -> bool:
    """Whether any collected test needs clones (then each container's pool starts with it,
    before any test can write to the namespace the clones copy)."""
    return any(
        "iris_fresh" in getattr(item, "fixturenames", ()) or isolation_of(item) == "namespace"
        for item in items
    )


class Clones:
    """The clone pools of this pytest process, one per container and namespace."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.wanted = False
        self.sizes: dict[str, int] = {}  # environment name -> its `clones`
        # Container -> the environment's own namespace, as first seen (an isolated test's
        # IrisEnv points at its clone meanwhile: clones are never made of a clone).
        self.home: dict[str, str] = {}

    def pool(self, env: IrisEnv) -> ClonePool:
        from iris_envs.run.clone_pool import shared_pool

        namespace = self.home.setdefault(env.container, env.namespace)
        return shared_pool(env.container, namespace, self.size(env.env))

    def size(self, name: str) -> int:
        from iris_envs.run.clone_pool import DEFAULT_CLONES

        if name not in self.sizes:
            size = DEFAULT_CLONES
            try:
                from iris_envs.config.load import load_project
                from iris_envs.config.selection import select_one

                size = select_one(load_project(None, cwd=self.config.rootpath), name).clones
            except Exception:  # no project here (run from elsewhere): the default
                size = DEFAULT_CLONES
            self.sizes[name] = size
        return self.sizes[name]

    def started(self, env: IrisEnv) -> None:
        """A container of ``env`` is ready: start its pool now if any test needs clones."""
        if env.container:
            self.home.setdefault(env.container, env.namespace)
        if self.wanted and env.container:
            self.pool(env)

    @contextmanager
    def claimed(self, env: IrisEnv, *items: pytest.Item, keep_on_failure: bool) -> Iterator[str]:
        """A clone for the test (or for every item of an ObjectScript class, which runs once for
        all of them); reset afterwards, or kept when one of them failed and
        --iris-keep-on-failure asked for that."""
        pool = self.pool(env)
        clone = pool.claim()
        for item in items:
            item.stash[CLONE_NAMESPACE] = clone.namespace
        keep = False
        try:
            yield clone.namespace
        finally:
            keep = keep_on_failure and any(item.stash.get(FAILED, False) for item in items)
            for item in items:
                item.stash[CLONE_KEPT] = keep
            pool.release(clone, keep=keep)

    def close(self) -> None:
        from iris_envs.run.clone_pool import close_pools

        close_pools()


# The session's clone pools (set by the plugin; ObjectScript classes claim from them too).
CLONES = pytest.StashKey[Clones]()


@contextmanager
def following(env: IrisEnv, namespace: str) -> Iterator[None]:
    """For the block, the session's ``env`` points at ``namespace`` (iris_env, and the
    connections made from it, follow the test's clone); put back afterwards."""
    fresh = env.in_namespace(namespace)
    saved = {
        name: getattr(env, name)
        for name in ("namespace", "connection_string", "sqlalchemy_url", "variables")
    }
    for name in saved:
        # The session's IrisEnv is frozen for tests; the plugin alone repoints it, per test.
        object.__setattr__(env, name, getattr(fresh, name))
    try:
        yield
    finally:
        for name, value in saved.items():
            object.__setattr__(env, name, value)


def report_section(item: pytest.Item, report: Any) -> None:
    """A failed test's report names its clone namespace (and says when it was kept)."""
    namespace = item.stash.get(CLONE_NAMESPACE, "")
    if not namespace or not report.failed:
        return
    kept = bool(item.config.getoption("iris_keep_on_failure"))
    text = f"the test ran in clone namespace {namespace}"
    text += (
        ", kept as it was for inspection (in the kept container: "
        f"`iris session IRIS -U {namespace}`)"
        if kept
        else "; it was reset after the test (--iris-keep-on-failure keeps it)"
    )
    report.sections.append(("iris-envs", text))
