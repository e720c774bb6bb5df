"""Find %UnitTest.TestCase classes and their Test* methods in UDL (.cls) files on the host.

Standard library only: the pytest plugin reads these at collection time, before any container.
A test class is one whose superclasses lead to ``%UnitTest.TestCase`` through classes found in the
same folders; its test methods are those whose names start with ``Test`` (class reference,
%UnitTest.Manager ``getTestMethods``), inherited ones included, run in alphabetical order
(GUNITTEST_create: "Test methods are executed in alphabetical order").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

TEST_CASE = "%UnitTest.TestCase"
_CLASS = re.compile(r"^Class\s+([%A-Za-z][\w.%]*)(?:\s+Extends\s+(\(([^)]*)\)|[%\w.]+))?", re.M)
_METHOD = re.compile(r"^(?:Class)?Method\s+(Test\w*)\s*\(", re.M)


@dataclass(frozen=True)
class ClassFile:
    """One class definition in a .cls file."""

    name: str
    path: Path
    supers: tuple[str, ...]
    methods: tuple[tuple[str, int], ...]  # (Test* method name, 1-based line of its signature)


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


def index_classes(folders: Iterable[Path]) -> dict[str, ClassFile]:
    """Every class defined by a .cls file under ``folders``, by name."""
    found: dict[str, ClassFile] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.cls")) if folder.is_dir() else [folder]:
            parsed = read_class(path)
            if parsed is not None:
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
    return TestClass(
        name=cls.name,
        path=cls.path,
        needs=tuple(member.path for member in reversed(chain[1:])),
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
