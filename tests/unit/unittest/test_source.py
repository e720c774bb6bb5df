"""Finding %UnitTest classes and their Test* methods in .cls files (issue 28)."""

from __future__ import annotations

from pathlib import Path

from iris_envs.unittest.source import find_test_classes, index_classes, macro_arguments

BASE = """\
Class App.Tests.Base Extends %UnitTest.TestCase
{
Method TestShared()
{
}
Method Helper()
{
}
}
"""

CHILD = """\
Include %occStatus

/// A test class whose base is a project class.
Class App.Tests.Child Extends (App.Tests.Base, App.Mixin) [ Abstract ]
{

ClassMethod TestB()
{
}

Method TestA()
{
}

}
"""

NOT_A_TEST = "Class App.Model Extends %Persistent\n{\nMethod TestLike()\n{\n}\n}\n"


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def test_test_classes_with_their_methods_in_run_order_and_their_bases(tmp_path: Path) -> None:
    write(tmp_path, {"Base.cls": BASE, "sub/Child.cls": CHILD, "Model.cls": NOT_A_TEST})
    known = index_classes([tmp_path])
    found = {c.name: c for c in find_test_classes([tmp_path], known)}
    assert sorted(found) == ["App.Tests.Base", "App.Tests.Child"]  # App.Model is no test class
    child = found["App.Tests.Child"]
    # Inherited Test* methods too; alphabetical, as the manager runs them; no helper.
    assert child.methods == ("TestA", "TestB", "TestShared")
    assert child.needs == (tmp_path / "Base.cls",)  # loaded first: it must compile first
    assert child.lines["TestA"] == (tmp_path / "sub/Child.cls", 11)
    assert child.lines["TestShared"] == (tmp_path / "Base.cls", 3)


def test_a_base_outside_the_folders_is_no_test_class(tmp_path: Path) -> None:
    write(tmp_path, {"Child.cls": CHILD})
    assert find_test_classes([tmp_path], index_classes([tmp_path])) == []


def test_macro_arguments_split_at_top_level_commas_only() -> None:
    line = '    Do $$$AssertEquals(##class(A.B).F(1,"x,)"), $Piece("a,b",","), "d")  ; note'
    assert macro_arguments(line, "AssertEquals") == [
        '##class(A.B).F(1,"x,)")',
        '$Piece("a,b",",")',
        '"d"',
    ]
    assert macro_arguments(line, "AssertTrue") == []
    assert macro_arguments("Do $$$AssertEquals(x,", "AssertEquals") == []  # continues below


EXPORT = """\
<?xml version="1.0" encoding="UTF-8"?>
<Export generator="IRIS" version="26">
<Class name="App.Xml.Child">
<Super>App.Tests.Base,App.Mixin</Super>

<Method name="Helper">
<Implementation><![CDATA[
    Quit 1
]]></Implementation>
</Method>

<Method name="TestX">
<FormalSpec>a:%String=&quot;&lt;&quot;</FormalSpec>
<Implementation><![CDATA[
    Do $$$AssertTrue(1)
]]></Implementation>
</Method>
</Class>
<Class name="App.Xml.Model">
<Super>%Persistent</Super>
</Class>
</Export>
"""


def test_xml_exports_give_their_classes_with_the_lines_offsets_count_from(tmp_path: Path) -> None:
    write(tmp_path, {"Base.cls": BASE, "x/export.xml": EXPORT, "x/other.xml": "<catalog/>"})
    (tmp_path / "x/broken.xml").write_text("<Export><Class name='A'>")
    found = {c.name: c for c in find_test_classes([tmp_path], index_classes([tmp_path]))}
    # The export's test class (its base in a .cls file); its persistent class is no test; the
    # other XML files give nothing.
    assert sorted(found) == ["App.Tests.Base", "App.Xml.Child"]
    child = found["App.Xml.Child"]
    assert child.methods == ("TestShared", "TestX")
    assert child.needs == (tmp_path / "Base.cls",)
    # The body's first line is two below the line its offsets count from, as in UDL.
    anchor = child.lines["TestX"]
    assert anchor[0] == tmp_path / "x/export.xml"
    body = EXPORT.splitlines().index("    Do $$$AssertTrue(1)") + 1
    assert anchor[1] + 2 == body


def test_a_base_in_the_same_export_is_not_loaded_twice(tmp_path: Path) -> None:
    export = EXPORT.replace("App.Tests.Base,App.Mixin", "App.Xml.Base").replace(
        "</Export>",
        '<Class name="App.Xml.Base">\n<Super>%UnitTest.TestCase</Super>\n</Class>\n</Export>',
    )
    write(tmp_path, {"export.xml": export})
    [child] = find_test_classes([tmp_path], index_classes([tmp_path]))
    assert (child.name, child.needs, child.path) == ("App.Xml.Child", (), tmp_path / "export.xml")
