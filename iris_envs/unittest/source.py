"""Find %UnitTest.TestCase classes and their Test* methods in UDL (.cls) files and XML exports.

Standard library only: the pytest plugin reads these at collection time, before any container.
A test class is one whose superclasses lead to ``%UnitTest.TestCase`` through classes found in the
same folders; its test methods are those whose names start with ``Test`` (class reference,
%UnitTest.Manager ``getTestMethods``), inherited ones included, run in alphabetical order
(GUNITTEST_create: "Test methods are executed in alphabetical order").

An XML export (``$SYSTEM.OBJ.Export`` of classes) holds one or more classes in one file:
``<Export generator="IRIS" version="26"><Class name="Pkg.Cls"><Super>%UnitTest.TestCase</Super>
<Method name="TestX"><Implementation><![CDATA[`` then the body from the next line, ``]]>
</Implementation></Method></Class></Export>`` (InterSystems' own exports in intersystems/ipm,
e.g. tests/integration_tests/Test/PM/Integration/_data/simple-app/cls/TSL/HTTPStatusTest.xml;
a class method adds ``<ClassMethod>1</ClassMethod>``). ``$SYSTEM.OBJ.Load`` loads both forms
(IPM loads .cls and XML resource files with it: intersystems/ipm
src/cls/IPM/ResourceProcessor/Default/Document.cls).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

TEST_CASE = "%UnitTest.TestCase"
_CLASS = re.compile(r"^Class\s+([%A-Za-z][\w.%]*)(?:\s+Extends\s+(\(([^)]*)\)|[%\w.]+))?", re.M)
_METHOD = re.compile(r"^(?:Class)?Method\s+(Test\w*)\s*\(", re.M)


@dataclass(frozen=True)
class ClassFile:
    """One class definition in a .cls file."""

    name: str
    path: Path
    supers: tuple[str, ...]
    # (Test* method name, 1-based line its assert offsets count from: the UDL signature line,
    # which is two lines above the body's first line; the same place for an XML export)
    methods: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class TestClass:
    """A %UnitTest.TestCase subclass: its file, the project files it needs loaded first (its
    superclasses, root-most first), and its test methods in the order the manager runs them."""

    __test__ = False  # a product class, not a pytest test class

    name: str
    path: Path
    needs: tuple[Path, ...]
    methods: tuple[str, ...]
    lines: dict[str, tuple[Path, int]]  # method -> (file, signature line) for reports


def read_class(path: Path) -> ClassFile | None:
    """The class a UDL file defines, or None when it defines none (or cannot be read)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _CLASS.search(text)
    if match is None:
        return None
    supers_text = match.group(3) if match.group(3) is not None else (match.group(2) or "")
    supers = tuple(s.strip() for s in supers_text.split(",") if s.strip())
    methods = tuple(
        (m.group(1), text.count("\n", 0, m.start()) + 1) for m in _METHOD.finditer(text)
    )
    return ClassFile(match.group(1), path, supers, methods)


SUFFIXES = (".cls", ".xml")


def read_export(path: Path) -> list[ClassFile]:
    """The classes an XML export defines ([] for any other XML file, or one that does not
    parse): their superclasses and Test* methods, each with the line its offsets count from."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    parser = expat.ParserCreate()
    found: list[ClassFile] = []
    stack: list[str] = []
    current: dict[str, str] = {}  # the class being read: name, supers
    methods: list[tuple[str, int]] = []
    method = ""

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal method
        stack.append(tag)
        if stack == ["Export", "Class"]:
            current.update(name=attrs.get("name", ""), supers="")
            methods.clear()
        elif stack == ["Export", "Class", "Method"]:
            method = attrs.get("name", "")
        elif stack == ["Export", "Class", "Method", "Implementation"] and method[:4] == "Test":
            # The body starts on the line after "<Implementation><![CDATA[": as in UDL, two
            # lines below the line its offsets count from.
            methods.append((method, parser.CurrentLineNumber - 1))

    def text(data: str) -> None:
        if stack == ["Export", "Class", "Super"]:
            current["supers"] += data

    def end(tag: str) -> None:
        stack.pop()
        if tag == "Class" and stack == ["Export"] and current.get("name"):
            supers = tuple(s.strip() for s in current["supers"].split(",") if s.strip())
            found.append(ClassFile(current["name"], path, supers, tuple(methods)))

    parser.StartElementHandler = start
    parser.CharacterDataHandler = text
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError:
        return []
    return found


def read_classes(path: Path) -> list[ClassFile]:
    """The classes a .cls or .xml file defines."""
    if path.suffix.lower() == ".xml":
        return read_export(path)
    cls = read_class(path)
    return [cls] if cls is not None else []


def class_files(folder: Path) -> list[Path]:
    """The .cls and .xml files under ``folder`` (or ``folder`` itself when it is a file)."""
    if not folder.is_dir():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())


def index_classes(folders: Iterable[Path]) -> dict[str, ClassFile]:
    """Every class defined by a .cls file or an XML export under ``folders``, by name."""
    found: dict[str, ClassFile] = {}
    for folder in folders:
        for path in class_files(folder):
            for parsed in read_classes(path):
                found.setdefault(parsed.name, parsed)
    return found


def _ancestry(cls: ClassFile, known: dict[str, ClassFile]) -> list[ClassFile] | None:
    """The project classes from ``cls`` up to %UnitTest.TestCase (``cls`` first), or None
    when that chain does not reach it through known classes."""
    chain: list[ClassFile] = []
    current: ClassFile | None = cls
    while current is not None and current not in chain:
        chain.append(current)
        if TEST_CASE in current.supers:
            return chain
        # Only the primary (first) superclass is followed; %UnitTest.TestCase is a
        # %RegisteredObject, so a test class lists it (or its own base) first.
        current = known.get(current.supers[0]) if current.supers else None
    return None


def as_test_class(cls: ClassFile, known: dict[str, ClassFile]) -> TestClass | None:
    """``cls`` as a test class, or None when it is no %UnitTest.TestCase subclass."""
    chain = _ancestry(cls, known)
    if chain is None:
        return None
    lines: dict[str, tuple[Path, int]] = {}
    for member in reversed(chain):  # a subclass's method overrides its parent's
        for method, line in member.methods:
            lines[method] = (member.path, line)
    # Each file once, and not the class's own (an export may hold the class and its base).
    needs = dict.fromkeys(m.path for m in reversed(chain[1:]) if m.path != cls.path)
    return TestClass(
        name=cls.name,
        path=cls.path,
        needs=tuple(needs),
        methods=tuple(sorted(lines)),
        lines=lines,
    )


def find_test_classes(paths: Sequence[Path], known: dict[str, ClassFile]) -> list[TestClass]:
    """The test classes defined in ``paths`` (files or folders), sorted by name."""
    found = []
    for cls in index_classes(paths).values():
        resolved = as_test_class(cls, {**known, cls.name: cls})
        if resolved is not None and resolved.methods:
            found.append(resolved)
    return sorted(found, key=lambda c: c.name)


def macro_arguments(line: str, action: str) -> list[str]:
    """The arguments' source text of the ``$$$<action>(...)`` call on a source line ([] when the
    line has none, or it does not close on this line)."""
    start = line.find(f"$$${action}(")
    if start < 0:
        return []
    args: list[str] = []
    depth, in_string = 0, False
    current: list[str] = []
    for char in line[start + len(action) + 4 :]:
        if in_string:
            in_string = char != '"'
        elif char == '"':
            in_string = True
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                args.append("".join(current).strip())
                return args
            depth -= 1
        elif char == "," and depth == 0:
            args.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    return []
