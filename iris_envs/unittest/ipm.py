"""The %UnitTest folders an IPM module declares: the ``<UnitTest>`` elements of its module.xml.

Their shape, from intersystems/ipm (its own module.xml, and src/cls/IPM/ResourceProcessor/Test.cls,
the processor of ``<UnitTest>``; ResourceProcessor/UnitTest.cls keeps the tag working)::

    <Export><Document name="zpm.ZPM"><Module><Name>zpm</Name> ...
      <UnitTest Name="/tests/unit_tests/" Package="Test.PM.Unit" Phase="test"/>

- ``Name``: a folder, relative to the module's root (``Module.Root_Name`` in ``OnPhase``);
- ``Package`` or ``Class``: the tests of that package, or that one class ("Either Package or
  Class MUST be defined");
- ``Phase``: ``test`` (the default; run in the development namespace), ``verify`` (run after
  IPM installs the module into a separate, clean namespace), or ``test,verify``;
- the folder is loaded without its subfolders whose names start with ``_``
  (``LoadTestDirectory``, "rather than recursive $System.OBJ.LoadDir to omit _ directories").

Standard library only: the pytest plugin reads this at collection time.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from iris_envs.unittest.results import ClassRun, Outcome
from iris_envs.unittest.source import TestClass, find_test_classes, index_classes

MODULE_XML = "module.xml"


class ModuleXmlError(Exception):
    """module.xml cannot be read as an IPM module."""


@dataclass(frozen=True)
class ModuleTests:
    """One ``<UnitTest>`` element: its folder and which classes there are its tests."""

    name: str  # as written, e.g. "/tests/unit_tests/"
    folder: Path
    package: str = ""
    cls: str = ""

    def holds(self, path: Path, class_name: str) -> bool:
        """Is ``class_name``, defined in ``path``, one of these tests?"""
        try:
            relative = path.resolve().relative_to(self.folder.resolve())
        except ValueError:
            return False
        if any(part.startswith("_") for part in relative.parts[:-1]):
            return False
        if self.cls:
            return class_name == self.cls
        return not self.package or class_name.startswith(self.package + ".")

    def describe(self) -> str:
        return f"{self.name} ({self.cls or self.package or 'all classes'})"


@dataclass(frozen=True)
class Module:
    """What iris-envs uses of a module.xml."""

    path: Path
    name: str
    tests: tuple[ModuleTests, ...]  # the elements whose Phase includes "test"
    verify_only: tuple[ModuleTests, ...]  # Phase "verify" alone: they need IPM's namespace
    dependencies: tuple[str, ...]  # <Dependencies><ModuleReference><Name>: IPM installs them


def read_module(path: Path) -> Module:
    """The module a module.xml describes (raises ModuleXmlError when it is none)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise ModuleXmlError(f"{path}: not readable as XML: {error}") from None
    module = root if root.tag == "Module" else root.find(".//Module")
    if module is None:
        raise ModuleXmlError(f"{path}: no <Module> element (an IPM module.xml has one)")
    tests: list[ModuleTests] = []
    verify: list[ModuleTests] = []
    for element in module.iter("UnitTest"):
        name = element.get("Name", "")
        phases = {p.strip().lower() for p in element.get("Phase", "test").split(",")}
        entry = ModuleTests(
            name,
            path.parent / name.strip("/\\"),
            element.get("Package", ""),
            element.get("Class", ""),
        )
        (tests if "test" in phases else verify).append(entry)
    dependencies = tuple(
        (reference.findtext("Name") or "").strip()
        for reference in module.findall("Dependencies/ModuleReference")
    )
    return Module(
        path,
        (module.findtext("Name") or "").strip(),
        tuple(tests),
        tuple(verify),
        tuple(name for name in dependencies if name),
    )


def module_classes(module: Module) -> list[TestClass]:
    """The test classes of the module's test-phase ``<UnitTest>`` folders, sorted by name."""
    folders = [tests.folder for tests in module.tests if tests.folder.is_dir()]
    return [
        test
        for test in find_test_classes(folders, index_classes(folders))
        if any(tests.holds(test.path, test.name) for tests in module.tests)
    ]


def with_ipm_hint(
    verdict: Outcome, run: ClassRun, module: Module | None, namespace: str
) -> Outcome:
    """A module's failed test, with why IPM's absence may be the cause when it is absent."""
    if verdict.status != "failed" or module is None or run.ipm is not False:
        return verdict
    return Outcome("failed", f"{verdict.message}\n\n{no_ipm_hint(module, namespace)}")


def no_ipm_hint(module: Module, namespace: str) -> str:
    """Why a module's test may fail where IPM is not installed."""
    return (
        f"module.xml: {module.name or 'the module'} depends on {', '.join(module.dependencies)}, "
        f"which IPM installs, and IPM is not installed in namespace {namespace} (no %IPM.Main "
        "or %ZPM.PackageManager class); if this test needs their code, install IPM and them in "
        "the environment's setup (an image with IPM and `ipm` steps), or load their code with a "
        "`load` step"
    )
