"""ObjectScript %UnitTest classes collected by pytest and run in the environment (issue 28)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import cli_env, docker, remove_env_artifacts, write_project
from tests.integration.test_config_model import session
from tests.standin.build import build_dc_variant

pytestmark = pytest.mark.docker

PYTHON_TESTS = """\
def test_one():
    assert 1 + 1 == 2


def test_two():
    assert "ab".upper() == "AB"


def test_three():
    assert len([1, 2, 3]) == 3
"""

# Valid ObjectScript, and within the stand-in's session model (tests/standin/README.md).
CALC_CLASS = """\
/// Three %UnitTest methods; TestTotal fails on purpose.
Class Demo.Tests.Calc Extends %UnitTest.TestCase
{

Method TestConcat()
{
    Set s="a"_"b"
    Do $$$AssertEquals(s, "ab", "concatenation")
}

Method TestLength()
{
    Do $$$AssertEquals($Length("abc"), 3, "length of abc")
}

Method TestTotal()
{
    Set total="2"
    Do $$$AssertEquals(total, 3, "the total")
}

}
"""


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=600, check=False
    )


@dataclass
class Project:
    root: Path
    env: str

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m iris_envs ARGS`` in the project."""
        return _run([sys.executable, "-m", "iris_envs", *args], self.root)

    def run(self, *pytest_args: str, under_run: bool = True) -> subprocess.CompletedProcess[str]:
        """pytest in the project: under ``iris-envs run -e ENV`` or on its own."""
        pytest_cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args]
        if under_run:
            return self.cli("run", "-e", self.env, "--", *pytest_cmd)
        return _run(pytest_cmd, self.root)


def make_acceptance_project(root: Path, image: str, env: str, ini: bool = True) -> Project:
    """3 Python tests and a .cls with 3 test methods, one failing AssertEquals (issue 28)."""
    option = "iris_unittest = tests/objectscript\n" if ini else ""
    write_project(
        root,
        f'[env."{env}"]\nimage = "{image}"\npassword = "Pw-{env[-6:]}"\nready_timeout = 600\n',
        {
            "pytest.ini": f"[pytest]\ntestpaths = tests\n{option}",
            "tests/test_app.py": PYTHON_TESTS,
            "tests/objectscript/Demo/Tests/Calc.cls": CALC_CLASS,
        },
    )
    return Project(root, env)


@pytest.fixture
def project(tmp_path: Path, standin_images: dict[str, str]) -> Iterator[Project]:
    env = f"ut-{uuid.uuid4().hex[:8]}"
    yield make_acceptance_project(tmp_path / "project", standin_images["2025.1"], env)
    remove_env_artifacts(env)


def junit_cases(path: Path) -> list[tuple[str, str, str]]:
    """(classname, name, failure message or "") of every testcase in a JUnit file."""
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        failure = case.find("failure")
        message = (failure.get("message") or "") if failure is not None else ""
        cases.append((case.get("classname", ""), case.get("name", ""), message))
    return cases


def check_acceptance(project: Project, done: subprocess.CompletedProcess[str]) -> None:
    """6 items, 1 failure showing expected and actual, exit 1, a JUnit file of 6 testcases."""
    out = done.stdout + done.stderr
    assert "collected 6 items" in out, out
    assert "1 failed, 5 passed" in out, out
    assert "FAILED tests/objectscript/Demo/Tests/Calc.cls::Demo.Tests.Calc::TestTotal" in out
    assert "AssertEquals failed: the total" in out
    assert "actual:   total" in out and "expected: 3" in out, out
    assert 'Do $$$AssertEquals(total, 3, "the total")' in out  # the source line it points to
    cases = junit_cases(project.root / "junit.xml")
    assert len(cases) == 6, cases
    failed = [case for case in cases if case[2]]
    assert [(c[1], "expected: 3" in c[2], "actual:   total" in c[2]) for c in failed] == [
        ("TestTotal", True, True)
    ]
    assert sorted(c[1] for c in cases if "Calc" in c[0]) == [
        "TestConcat",
        "TestLength",
        "TestTotal",
    ]


def test_python_and_objectscript_tests_run_together_under_iris_envs_run(project: Project) -> None:
    done = project.run("-v", "--junitxml=junit.xml")
    check_acceptance(project, done)
    assert done.returncode == 1, done.stdout + done.stderr
    # -k selects one ObjectScript method; it runs alone.
    one = project.run("-v", "-k", "TestLength")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "1 passed, 5 deselected" in one.stdout, one.stdout
    assert "Calc.cls::Demo.Tests.Calc::TestLength PASSED" in one.stdout
    # xdist distributes them: each worker runs the classes of the files it gets.
    spread = project.run("-n", "2", "--dist", "loadfile", "--junitxml=junit.xml")
    assert spread.returncode == 1 and "1 failed, 5 passed" in spread.stdout, spread.stdout
    assert len(junit_cases(project.root / "junit.xml")) == 6


HOOKS_CLASS = """\
Class Demo.Tests.Hooks Extends %UnitTest.TestCase
{

Method OnBeforeAllTests() As %Status
{
    Quit $$$ERROR($$$GeneralError, "no fixture")
}

Method TestNeedsTheFixture()
{
    Do $$$AssertSuccess("not reached")
}

}
"""


def test_compile_and_setup_errors_fail_the_class_items_with_their_text(project: Project) -> None:
    source = project.root / "tests/objectscript/Demo/Tests/Calc.cls"
    # The stand-in's compile-error trigger (tests/standin/README.md).
    source.write_text(CALC_CLASS.replace("/// Three", "/// STANDIN-LOAD-ERROR Three"))
    (project.root / "tests/objectscript/Demo/Tests/Hooks.cls").write_text(HOOKS_CLASS)
    done = project.run("-q")
    assert done.returncode == 1
    assert "4 failed, 3 passed" in done.stdout, done.stdout
    assert "Demo.Tests.Calc did not compile: ERROR #5475: Error compiling routine" in done.stdout
    # OnBeforeAllTests returned an error: the manager ran no method; the item says why.
    assert "Demo.Tests.Hooks: (stand-in) OnBeforeAllTests: ERROR #5001: no fixture" in done.stdout


def test_without_an_environment_or_the_ini_option(project: Project) -> None:
    # No environment: the ObjectScript items fail and say how to give them one; Python's pass.
    alone = project.run("-q", under_run=False)
    assert alone.returncode == 1
    assert "3 failed, 3 passed" in alone.stdout, alone.stdout
    assert "ObjectScript tests need an environment: run `iris-envs run -- pytest`" in alone.stdout
    # A folder that does not exist is a usage error, not a silently empty collection.
    (project.root / "pytest.ini").write_text("[pytest]\niris_unittest = tests/objectscrip\n")
    typo = project.run("-q", under_run=False)
    assert typo.returncode == 4, typo.stdout + typo.stderr
    assert "ini option iris_unittest: no such folder:" in typo.stderr
    assert "tests/objectscrip (paths are relative to the ini file)" in typo.stderr
    # Without the ini option nothing changes for a project: its .cls files are not collected.
    (project.root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    plain = project.run("-q", under_run=False)
    assert plain.returncode == 0 and "3 passed" in plain.stdout, plain.stdout
    assert "Calc" not in plain.stdout


def test_the_unittest_verb_runs_the_classes_without_pytest(project: Project) -> None:
    done = project.cli("unittest", "tests/objectscript", "-e", project.env, "--junitxml", "o.xml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAILED   Demo.Tests.Calc::TestTotal" in done.stdout
    assert "actual:   total" in done.stdout and "expected: 3" in done.stdout
    assert done.stdout.rstrip().endswith("1 failed, 2 passed"), done.stdout
    cases = junit_cases(project.root / "o.xml")
    assert [(c[1], bool(c[2])) for c in cases] == [
        ("TestConcat", False),
        ("TestLength", False),
        ("TestTotal", True),
    ]
    # Under `iris-envs run` it uses that run's container ($IRIS_ENVS_CONTAINER), passing.
    (project.root / "tests/objectscript/Demo/Tests/Calc.cls").write_text(
        CALC_CLASS.replace('Set total="2"', 'Set total="3"')
    )
    verb = [sys.executable, "-m", "iris_envs", "unittest", "tests"]
    inside = project.cli("run", "-e", project.env, "--", *verb)
    out = inside.stdout + inside.stderr
    assert inside.returncode == 0, out
    assert "3 passed" in inside.stdout
    assert out.count("start container done") == 1, out  # no second container


# An XML export as IRIS writes one (intersystems/ipm's exported test data): a base class and a
# test class in one file; TestTotal fails on purpose.
CALC_EXPORT = """\
<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
<Class name="Demo.Xml.Base">
<Super>%UnitTest.TestCase</Super>
</Class>


<Class name="Demo.Xml.Calc">
<Super>Demo.Xml.Base</Super>

<Method name="TestConcat">
<Implementation><![CDATA[
    Set s="a"_"b"
    Do $$$AssertEquals(s, "ab", "concatenation")
]]></Implementation>
</Method>

<Method name="TestTotal">
<ClassMethod>1</ClassMethod>
<Implementation><![CDATA[
    Set total="2"
    Do $$$AssertEquals(total, 3, "the total")
]]></Implementation>
</Method>
</Class>
</Export>
"""


def test_classes_of_an_xml_export_are_collected_and_run(project: Project) -> None:
    export = project.root / "tests/objectscript/calc-export.xml"
    export.write_text(CALC_EXPORT)
    (project.root / "tests/objectscript/not-an-export.xml").write_text("<catalog/>\n")
    done = project.run("-v", "--junitxml=junit.xml")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "collected 8 items" in out, out  # 3 Python, 3 of Calc.cls, 2 of the export
    assert "calc-export.xml::Demo.Xml.Calc::TestConcat PASSED" in out, out
    assert "FAILED tests/objectscript/calc-export.xml::Demo.Xml.Calc::TestTotal" in out, out
    assert "2 failed, 6 passed" in out, out
    # The failure points into the export: its line, its text, expected and actual.
    assert "actual:   total" in out and "expected: 3" in out, out
    line = CALC_EXPORT.splitlines().index('    Do $$$AssertEquals(total, 3, "the total")') + 1
    assert f"(tests/objectscript/calc-export.xml:{line})" in out, out
    assert sorted(c[1] for c in junit_cases(project.root / "junit.xml") if "Xml" in c[0]) == [
        "TestConcat",
        "TestTotal",
    ]
    # The unittest verb takes the export too.
    verb = project.cli("unittest", str(export), "-e", project.env)
    assert verb.returncode == 1, verb.stdout + verb.stderr
    assert verb.stdout.rstrip().endswith("1 failed, 1 passed"), verb.stdout


# An IPM module (the shape of intersystems/ipm's own module.xml): a test-phase folder of the
# Demo.Tests package, a verify-phase one, and a dependency that IPM would install.
MODULE_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
  <Document name="demo-app.ZPM">
    <Module>
      <Name>demo-app</Name>
      <Version>1.0.0</Version>
      <Packaging>module</Packaging>
      <SourcesRoot>src</SourcesRoot>
      <Dependencies>
        <ModuleReference>
          <Name>sslclient</Name>
          <Version>1.*</Version>
        </ModuleReference>
      </Dependencies>
      <UnitTest Name="/tests/unit_tests/" Package="Demo.Tests" Phase="test"/>
      <UnitTest Name="/tests/integration_tests/" Package="Demo.Integration" Phase="verify"/>
    </Module>
  </Document>
</Export>
"""


def module_project(project: Project) -> None:
    """The acceptance project as an IPM module: no iris_unittest, a module.xml instead."""
    root = project.root
    (root / "tests/objectscript").rename(root / "tests/unit_tests")
    other = CALC_CLASS.replace("Demo.Tests.Calc", "Other.Tests.Calc")
    (root / "tests/unit_tests/Other/Tests").mkdir(parents=True)
    (root / "tests/unit_tests/Other/Tests/Calc.cls").write_text(other)  # another package
    (root / "tests/unit_tests/_data").mkdir()
    data = CALC_CLASS.replace("Demo.Tests.Calc", "Demo.Tests.Data")
    (root / "tests/unit_tests/_data/Data.cls").write_text(data)  # IPM skips _ folders
    (root / "tests/integration_tests/Demo/Integration").mkdir(parents=True)
    verify = CALC_CLASS.replace("Demo.Tests.Calc", "Demo.Integration.Calc")
    (root / "tests/integration_tests/Demo/Integration/Calc.cls").write_text(verify)
    (root / "module.xml").write_text(MODULE_XML)
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")


def test_an_ipm_modules_unit_test_folders_are_collected_without_an_ini_option(
    project: Project,
) -> None:
    module_project(project)
    done = project.run("-v")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    # Its Demo.Tests classes only: not another package's, not _data's, not the verify phase's.
    assert "collected 6 items" in out, out
    assert "1 failed, 5 passed" in out, out
    assert "FAILED tests/unit_tests/Demo/Tests/Calc.cls::Demo.Tests.Calc::TestTotal" in out
    header = "ObjectScript tests of IPM module demo-app (module.xml): /tests/unit_tests/ (Demo"
    assert header in out, out
    assert "not collected, Phase verify" in out and "/tests/integration_tests/" in out, out
    # The stand-in's plain image has no IPM: the failure says what is missing, once per failure.
    hint = "module.xml: demo-app depends on sslclient, which IPM installs, and IPM is not "
    assert out.count(hint + "installed in namespace USER") == 2, out  # report and summary
    # A plain `pytest` without an environment skips them (they were not asked for).
    alone = project.run("-q", "-rs", under_run=False)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "3 passed, 3 skipped" in alone.stdout, alone.stdout
    assert "ObjectScript tests need an environment" in alone.stdout
    # The unittest verb with no PATH runs the module's test folders the same way.
    verb = project.cli("unittest", "-e", project.env)
    assert verb.returncode == 1, verb.stdout + verb.stderr
    assert "FAILED   Demo.Tests.Calc::TestTotal" in verb.stdout, verb.stdout
    assert hint + "installed in namespace USER" in verb.stdout, verb.stdout
    assert verb.stdout.rstrip().endswith("1 failed, 2 passed"), verb.stdout
    # A <UnitTest> folder that does not exist, or a module.xml that does not parse: one usage
    # error each (exit 4), before any test runs.
    (project.root / "tests/unit_tests").rename(project.root / "tests/unit")
    gone = project.run("-q", under_run=False)
    assert gone.returncode == 4, gone.stdout + gone.stderr
    assert "module.xml: <UnitTest Name> names no such folder:" in gone.stderr, gone.stderr
    (project.root / "module.xml").write_text("<Export><Module>")
    broken = project.run("-q", under_run=False)
    assert broken.returncode == 4 and "module.xml: not readable as XML" in broken.stderr


def test_a_module_test_in_an_image_with_ipm_gets_no_ipm_hint(project: Project) -> None:
    module_project(project)
    image = build_dc_variant("2025.1")
    toml = project.root / "iris-envs.toml"
    toml.write_text(toml.read_text().replace(project.env, f"{project.env}-dc"))
    dc = Project(project.root, f"{project.env}-dc")
    toml.write_text(re.sub(r'image = "[^"]*"', f'image = "{image}"', toml.read_text()))
    try:
        done = dc.run("-q")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "1 failed, 5 passed" in done.stdout, done.stdout
        assert "AssertEquals failed: the total" in done.stdout
        assert "which IPM installs" not in done.stdout, done.stdout
    finally:
        remove_env_artifacts(dc.env)


# Two classes that write the same global and assert it was absent when they started.
ISOLATED_CLASS = """\
Class Demo.Iso.{name} Extends %UnitTest.TestCase
{{

Method TestWritesTheGlobal()
{{
    Do $$$AssertEquals($Get(^IsoUT("x")), "", "^IsoUT is absent at the start")
    Set ^IsoUT("x")="{name}"
}}

}}
"""


MARK_SECOND = """\
import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "Demo.Iso.Second" in item.nodeid:
            item.add_marker(pytest.mark.iris_isolation("namespace"))
"""


def isolation_project(project: Project, isolation: str) -> None:
    """Only the two writing classes, with ``iris_isolation`` as given ("" for none)."""
    for old in (project.root / "tests").rglob("*.*"):
        old.unlink()
    for name in ("First", "Second"):
        path = project.root / f"tests/objectscript/Demo/Iso/{name}.cls"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(ISOLATED_CLASS.format(name=name))
    ini = "[pytest]\ntestpaths = tests\niris_unittest = tests/objectscript\n" + isolation
    (project.root / "pytest.ini").write_text(ini)


def test_each_class_runs_in_a_clone_of_its_own_when_isolation_is_on(project: Project) -> None:
    isolation_project(project, "iris_isolation = namespace\n")
    isolated = project.run("-q")
    assert isolated.returncode == 0, isolated.stdout + isolated.stderr
    assert "2 passed" in isolated.stdout, isolated.stdout
    # Sharing the namespace, the second class sees what the first wrote.
    isolation_project(project, "")
    shared = project.run("-q")
    assert shared.returncode == 1, shared.stdout + shared.stderr
    assert "1 failed, 1 passed" in shared.stdout, shared.stdout
    failed = "FAILED tests/objectscript/Demo/Iso/Second.cls::Demo.Iso.Second::TestWritesTheGlobal"
    assert failed in shared.stdout, shared.stdout
    assert "AssertEquals failed: ^IsoUT is absent at the start" in shared.stdout
    # The marker on one class's items (docs/pytest.md): the pool's pristine copies are taken
    # when the container starts, before the unisolated first class writes.
    (project.root / "tests/conftest.py").write_text(MARK_SECOND)
    marked = project.run("-q")
    assert marked.returncode == 0, marked.stdout + marked.stderr
    assert "2 passed" in marked.stdout, marked.stdout


def test_a_failed_class_names_its_clone_and_keep_on_failure_keeps_it(project: Project) -> None:
    isolation_project(project, "iris_isolation = namespace\n")
    second = project.root / "tests/objectscript/Demo/Iso/Second.cls"
    second.write_text(
        ISOLATED_CLASS.format(name="Second").replace(
            '    Set ^IsoUT("x")="Second"\n',
            '    Set ^IsoUT("x")="evidence"\n    Do $$$AssertEquals(1, 2, "fails after writing")\n',
        )
    )
    done = project.run("-q", "--iris-env", project.env, under_run=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the test ran in clone namespace USER_C" in done.stdout, done.stdout
    assert "it was reset after the test (--iris-keep-on-failure keeps it)" in done.stdout
    kept = project.run("-q", "--iris-env", project.env, "--iris-keep-on-failure", under_run=False)
    assert "kept as it was for inspection" in kept.stdout, kept.stdout
    containers = docker(
        "ps", "-q", "--filter", f"label=org.iris-envs.env={project.env}"
    ).stdout.split()
    assert containers, "the failed session's container is kept"
    try:
        namespace = kept.stdout.split("clone namespace ", 1)[1].split(",", 1)[0]
        seen = session(containers[0], 'Write "E=",$Get(^IsoUT("x")),!\nHalt\n', namespace)
        assert "E=evidence" in seen, seen
        # The environment's own namespace never saw the class's write.
        home = session(containers[0], 'Write "E=",$Get(^IsoUT("x")),!\nHalt\n', "USER")
        assert "E=evidence" not in home, home
    finally:
        for name in containers:
            docker("rm", "-f", name, check=False)


@pytest.mark.real_iris
def test_the_acceptance_project_against_a_real_image(tmp_path: Path) -> None:
    """The same project on real IRIS (IRIS_ENVS_TEST_IMAGE): the real %UnitTest.Manager."""
    env = f"ut-real-{uuid.uuid4().hex[:8]}"
    project = make_acceptance_project(tmp_path / "project", os.environ["IRIS_ENVS_TEST_IMAGE"], env)
    try:
        done = project.run("-v", "--junitxml=junit.xml")
        check_acceptance(project, done)
        assert done.returncode == 1
        one = project.run("-v", "-k", "TestLength")
        assert one.returncode == 0 and "1 passed, 5 deselected" in one.stdout, one.stdout
    finally:
        remove_env_artifacts(env)


@pytest.mark.real_iris
def test_xml_exports_and_a_clone_per_class_against_a_real_image(tmp_path: Path) -> None:
    """On real IRIS (IRIS_ENVS_TEST_IMAGE): an export's failure points at its line (the offset
    of a class loaded from XML counts as from UDL), and classes in clones of their own."""
    env = f"ut-real-{uuid.uuid4().hex[:8]}"
    project = make_acceptance_project(tmp_path / "project", os.environ["IRIS_ENVS_TEST_IMAGE"], env)
    try:
        (project.root / "tests/objectscript/calc-export.xml").write_text(CALC_EXPORT)
        done = project.run("-v", "-k", "Xml")
        out = done.stdout + done.stderr
        assert done.returncode == 1 and "1 failed, 1 passed" in out, out
        line = CALC_EXPORT.splitlines().index('    Do $$$AssertEquals(total, 3, "the total")') + 1
        assert f"(tests/objectscript/calc-export.xml:{line})" in out, out
        isolation_project(project, "iris_isolation = namespace\n")
        isolated = project.run("-q")
        assert isolated.returncode == 0, isolated.stdout + isolated.stderr
        isolation_project(project, "")
        shared = project.run("-q")
        assert shared.returncode == 1 and "1 failed, 1 passed" in shared.stdout, shared.stdout
    finally:
        remove_env_artifacts(env)
