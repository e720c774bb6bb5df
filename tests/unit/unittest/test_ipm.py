"""Reading the <UnitTest> folders of an IPM module.xml (issue 28 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iris_envs.unittest.ipm import ModuleXmlError, read_module

MODULE = """\
<?xml version="1.0" encoding="UTF-8"?>
<Export generator="Cache" version="25">
  <Document name="app.ZPM">
    <Module>
      <Name>app</Name>
      <Dependencies>
        <ModuleReference><Name>dep-a</Name><Version>1.*</Version></ModuleReference>
        <ModuleReference><Name>dep-b</Name><Version>*</Version></ModuleReference>
      </Dependencies>
      <UnitTest Name="/tests/unit/" Package="App.Tests"/>
      <UnitTest Name="tests/one" Class="App.One.Test" Phase="test,verify"/>
      <UnitTest Name="/tests/integration/" Package="App.Integration" Phase="verify"/>
    </Module>
  </Document>
</Export>
"""


def test_test_phase_folders_with_their_package_or_class(tmp_path: Path) -> None:
    (tmp_path / "module.xml").write_text(MODULE)
    module = read_module(tmp_path / "module.xml")
    assert module.name == "app"
    assert module.dependencies == ("dep-a", "dep-b")
    # Phase defaults to "test" (IPM's InitialExpression); "test,verify" runs in both.
    unit, one = module.tests
    assert (unit.folder, unit.package) == (tmp_path / "tests/unit", "App.Tests")
    assert (one.folder, one.cls) == (tmp_path / "tests/one", "App.One.Test")
    [verify] = module.verify_only
    assert verify.describe() == "/tests/integration/ (App.Integration)"
    # The package's classes only, and none under a folder whose name starts with "_".
    folder = tmp_path / "tests/unit"
    assert unit.holds(folder / "App/Tests/A.cls", "App.Tests.A")
    assert not unit.holds(folder / "App/TestsMore/A.cls", "App.TestsMore.A")
    assert not unit.holds(folder / "_data/App/Tests/A.cls", "App.Tests.A")
    assert not unit.holds(tmp_path / "elsewhere/A.cls", "App.Tests.A")
    assert one.holds(tmp_path / "tests/one/x.xml", "App.One.Test")
    assert not one.holds(tmp_path / "tests/one/x.xml", "App.One.Other")


def test_a_bare_module_element_and_broken_files(tmp_path: Path) -> None:
    bare = tmp_path / "bare.xml"
    bare.write_text('<Module><Name>m</Name><UnitTest Name="/t"/></Module>')
    module = read_module(bare)
    assert [t.folder for t in module.tests] == [tmp_path / "t"]
    assert module.dependencies == ()
    (tmp_path / "broken.xml").write_text("<Export><Module>")
    with pytest.raises(ModuleXmlError, match="not readable as XML"):
        read_module(tmp_path / "broken.xml")
    (tmp_path / "other.xml").write_text("<Export/>")
    with pytest.raises(ModuleXmlError, match="no <Module> element"):
        read_module(tmp_path / "other.xml")
