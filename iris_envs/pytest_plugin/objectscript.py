"""ObjectScript %UnitTest classes as pytest items (issue 28), opt-in by ``iris_unittest``.

pytest's documented way to collect non-Python tests: a ``pytest_collect_file`` hook returning a
``pytest.File`` whose collectors yield ``pytest.Item`` subclasses ("Working with non-python
tests", pytest docs). A ``.cls`` file (or an XML export) under a folder named by the ini option
``iris_unittest`` that defines a %UnitTest.TestCase subclass becomes
``<file>::<Package.Class>::<TestMethod>`` items, so ``-k``, ``-x``, ``--lf``, xdist and
``--junitxml`` treat them as any test. Without the option, a project's IPM module.xml names the
folders (its ``<UnitTest>`` elements, ``iris_envs.unittest.ipm``).

The class runs once per pytest process, at its first item, through %UnitTest.Manager in the
environment's container (``iris_envs.unittest.runner``); its items then report their method's
result. Imports only pytest and the standard library until a class runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from iris_envs.pytest_plugin import isolation
from iris_envs.unittest.ipm import MODULE_XML, Module, ModuleXmlError, read_module, with_ipm_hint
from iris_envs.unittest.results import ClassRun, Outcome, outcome
from iris_envs.unittest.source import (
    SUFFIXES,
    ClassFile,
    TestClass,
    as_test_class,
    index_classes,
    read_classes,
)

if TYPE_CHECKING:
    from iris_envs.pytest_plugin.environments import IrisEnv

INI = "iris_unittest"
_INDEX = pytest.StashKey[dict[str, ClassFile]]()
_MODULE = pytest.StashKey["Module | None"]()
# Where the classes run: set by the plugin (__init__.py), which knows the session's environments.
ENVIRONMENT = pytest.StashKey[Callable[[], "IrisEnv"]]()


class UnitTestFailure(Exception):
    """A failed %UnitTest method; its text is the report (no Python traceback)."""


def add_ini(parser: pytest.Parser) -> None:
    parser.addini(
        INI,
        "folders of ObjectScript %UnitTest classes (.cls, XML exports) to collect as tests; they "
        "run through %UnitTest.Manager in the iris-envs environment's container",
        type="paths",
        default=[],
    )


def module(config: pytest.Config) -> Module | None:
    """The project's IPM module (a module.xml beside the ini file) when ``iris_unittest`` names
    no folder: then its ``<UnitTest>`` folders are collected, no ini option needed."""
    if _MODULE not in config.stash:
        found = None
        path = config.rootpath / MODULE_XML
        if not config.getini(INI) and path.is_file():
            try:
                found = read_module(path)
            except ModuleXmlError as error:
                raise pytest.UsageError(f"iris-envs: {error}") from None
        config.stash[_MODULE] = found
    return config.stash[_MODULE]


def _folders(config: pytest.Config) -> list[Path]:
    found = module(config)
    if found is not None:
        return [tests.folder for tests in found.tests]
    return [Path(folder) for folder in config.getini(INI)]


def check_folders(config: pytest.Config) -> None:
    """A folder named in ``iris_unittest`` (or in module.xml) that does not exist is a usage
    error (exit 4), not a run that silently collects no ObjectScript test."""
    missing = [str(folder) for folder in _folders(config) if not folder.is_dir()]
    if not missing:
        return
    if module(config) is not None:
        raise pytest.UsageError(
            f"iris-envs: {MODULE_XML}: <UnitTest Name> names no such folder: "
            f"{', '.join(missing)} (relative to the module's root)"
        )
    raise pytest.UsageError(
        f"iris-envs: ini option {INI}: no such folder: {', '.join(missing)} (paths are "
        "relative to the ini file)"
    )


def header(config: pytest.Config) -> list[str]:
    """Report header lines: which module.xml test folders are collected, which are not."""
    found = module(config)
    if found is None:
        return []
    lines = [
        f"iris-envs: ObjectScript tests of IPM module {found.name or '?'} ({MODULE_XML}): "
        + (", ".join(tests.describe() for tests in found.tests) or "none with Phase test")
    ]
    if found.verify_only:
        lines.append(
            "iris-envs: not collected, Phase verify (IPM runs them after installing the module "
            f"in a namespace of its own): {', '.join(t.describe() for t in found.verify_only)}"
        )
    return lines


def _known(config: pytest.Config) -> dict[str, ClassFile]:
    """Every class of the configured folders, read once: a test class's base may be elsewhere."""
    if _INDEX not in config.stash:
        config.stash[_INDEX] = index_classes(_folders(config))
    return config.stash[_INDEX]


def collect_file(file_path: Path, parent: pytest.Collector) -> UnitTestFile | None:
    """A collector for a .cls file or an XML export of the configured folders that holds a
    test class (an export may hold several)."""
    if file_path.suffix.lower() not in SUFFIXES:
        return None
    folders = [folder.resolve() for folder in _folders(parent.config)]
    if not any(file_path.resolve().is_relative_to(folder) for folder in folders):
        return None
    known = _known(parent.config)
    ipm = module(parent.config)
    tests = [
        as_test_class(cls, {**known, cls.name: cls})
        for cls in read_classes(file_path)
        # A module's folder holds the tests of its Package (or Class) only, as IPM runs them.
        if ipm is None or any(entry.holds(file_path, cls.name) for entry in ipm.tests)
    ]
    found = [test for test in tests if test is not None and test.methods]
    if not found:
        return None
    file: UnitTestFile = UnitTestFile.from_parent(parent, path=file_path)
    file.tests = found
    return file


class UnitTestFile(pytest.File):
    """A .cls file (one test class) or an XML export (one or more)."""

    tests: list[TestClass]

    def collect(self) -> list[UnitTestClass]:
        ipm = module(self.config)
        return [
            UnitTestClass.from_parent(self, name=test.name, test=test, module=ipm)
            for test in self.tests
        ]


class UnitTestClass(pytest.Collector):
    """A %UnitTest.TestCase subclass; runs once, at its first item."""

    def __init__(self, *, test: TestClass, module: Module | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test
        self.module = module  # the IPM module whose module.xml named it, if any
        self.namespace = ""  # where it ran
        self.run: ClassRun | None = None

    def collect(self) -> list[UnitTestItem]:
        return [UnitTestItem.from_parent(self, name=method) for method in self.test.methods]

    def outcome(self, method: str) -> Outcome:
        if self.run is None:
            self.run = self._run()
        verdict = outcome(self.run, method, self.test)
        return with_ipm_hint(verdict, self.run, self.module, self.namespace)

    def _run(self) -> ClassRun:
        from iris_envs.engine.adapter import DockerEngine
        from iris_envs.unittest.runner import run_class

        try:
            env = self.config.stash[ENVIRONMENT]()
        except pytest.fail.Exception as failure:
            if self.module is None:
                raise
            # Found by module.xml, not asked for: without an environment, skipped, so a module
            # project's plain `pytest` run does not fail.
            pytest.skip(f"{failure.msg} (collected from {MODULE_XML})")
        # The methods still selected (-k, --lf): one alone runs alone; else the class runs whole.
        items = [item for item in self.session.items if item.parent is self]
        selected = [item.name for item in items]
        # A module that depends on other modules: is IPM there to have installed them?
        ask_ipm = bool(self.module and self.module.dependencies)
        if not any(isolation.isolation_of(item) == "namespace" for item in items):
            self.namespace = env.namespace
            return run_class(
                DockerEngine(), env.container, env.namespace, self.test, selected, ask_ipm=ask_ipm
            )
        # Isolated: the class (its load, its run, what its methods write) in a clone of its own,
        # claimed for its run and released after it, as a Python test's clone is for the test.
        keep = bool(self.config.getoption("iris_keep_on_failure"))
        clones = self.config.stash[isolation.CLONES]
        with clones.claimed(env, *items, keep_on_failure=keep) as namespace:
            self.namespace = namespace
            run = run_class(
                DockerEngine(), env.container, namespace, self.test, selected, ask_ipm=ask_ipm
            )
            for item in items:  # decides whether --iris-keep-on-failure keeps the clone
                if outcome(run, item.name, self.test).status == "failed":
                    item.stash[isolation.FAILED] = True
        return run


class UnitTestItem(pytest.Item):
    """One Test* method of a %UnitTest class."""

    def runtest(self) -> None:
        assert isinstance(self.parent, UnitTestClass)
        verdict = self.parent.outcome(self.name)
        if verdict.status == "skipped":
            pytest.skip(verdict.message)
        if verdict.status == "failed":
            raise UnitTestFailure(verdict.message)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> Any:
        if isinstance(excinfo.value, UnitTestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        assert isinstance(self.parent, UnitTestClass)
        test = self.parent.test
        path, line = test.lines.get(self.name, (test.path, 1))
        # Not "Class::Method": pytest's verbose line turns a domain's dots into "::".
        return path, line - 1, f"{self.name} ({test.name})"
