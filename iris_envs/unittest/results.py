"""What one %UnitTest.Manager run of a class recorded, per method, and how a failure reads.

The rows come from the documented result tables (class reference, %UnitTest.Result.TestCase,
TestMethod, TestAssert): Status 0 failed, 1 passed, 2 skipped; an assert's Action is the macro
name without ``$$$``, its Description the description argument or the text of the first
argument, its Location ``label[+offset]^[|"ns"|]doc.ext`` (GUNITTEST_results).

%UnitTest records no values: a failed ``$$$AssertEquals`` stores only action, description and
location (GUNITTEST_results lists no other field; InterSystems' own tests log "expected ... got"
themselves with ``$$$LogMessage``, intersystems/ipm tests/unit_tests). So expected and actual
are shown as the assert's arguments, read from the source line its Location points to:
GUNITTEST_create names arg1 "typically ... the output from the method being tested" and arg2
"a value compared by the macro to arg1".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from iris_envs.unittest.source import TestClass, macro_arguments

FAILED, PASSED, SKIPPED = 0, 1, 2
_LOCATION = re.compile(r"^(?P<label>[%\w]+)(?:\+(?P<offset>\d+))?\^(?:\|[^|]*\|)?(?P<doc>.+)$")
# Asserts with an expected value as their second argument.
_COMPARED = {"AssertEquals": "expected", "AssertNotEquals": "expected not to equal"}


@dataclass(frozen=True)
class Assert:
    counter: int
    status: int
    action: str
    description: str
    location: str


@dataclass
class MethodResult:
    name: str
    status: int
    duration: float
    error_action: str
    error_description: str
    asserts: list[Assert] = field(default_factory=list)


@dataclass
class ClassRun:
    """One run of a class: its methods' results, or why there are none."""

    name: str
    compile_error: str = ""
    run_error: str = ""  # the session or the manager failed; the text says how
    case_status: int = PASSED
    case_error: str = ""  # an OnBeforeAllTests/OnAfterAllTests error (ErrorAction set)
    methods: dict[str, MethodResult] = field(default_factory=dict)
    ipm: bool | None = None  # is IPM installed in the namespace (None: not asked)


def parse_rows(name: str, output: str, marker: str) -> ClassRun:
    """The ClassRun a session's output describes: lines ``<marker>\\t<kind>\\t<json fields>``
    (fields JSON-escaped by ``$ZCONVERT(value,"O","JSON")``, RCOS_translationtables)."""
    run = ClassRun(name)
    asserts: list[tuple[str, Assert]] = []
    recorded = False
    for line in output.splitlines():
        at = line.find(marker + "\t")
        if at < 0:
            continue
        kind, *raw = line[at + len(marker) + 1 :].rstrip("\r").split("\t")
        values = [json.loads(f'"{value}"') for value in raw]
        if kind == "compile":
            run.compile_error = values[0]
        elif kind == "ipm":
            run.ipm = "1" in values
        elif kind == "status":
            run.run_error = f"%UnitTest.Manager returned an error: {values[0]}"
        elif kind == "case" and values[0] == name:
            recorded = True
            run.case_status = _int(values[1])
            # A case failed only by its methods has no ErrorAction (its description is IRIS's
            # own "There are failed TestMethods"); a hook's error has one (intersystems/ipm
            # Test/Abstract.cls, BuildResultTree).
            if run.case_status == FAILED and values[2]:
                run.case_error = f"{values[2]}: {values[3]}"
        elif kind == "method" and values[0] == name:
            run.methods[values[1]] = MethodResult(
                values[1], _int(values[2]), _float(values[3]), values[4], values[5]
            )
        elif kind == "assert" and values[0] == name:
            asserts.append((values[1], Assert(_int(values[2]), _int(values[3]), *values[4:7])))
    for method, item in sorted(asserts, key=lambda pair: (pair[0], pair[1].counter)):
        if method in run.methods:
            run.methods[method].asserts.append(item)
    if run.run_error and (recorded or run.methods):
        run.run_error = ""  # the results are there: they say what happened
    return run


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return FAILED


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Outcome:
    """A method's verdict for a test runner: "passed", "failed" or "skipped", with the text."""

    status: str
    message: str = ""


def outcome(run: ClassRun, method: str, test: TestClass | None = None) -> Outcome:
    """The verdict on one method of a run."""
    if run.compile_error:
        return Outcome("failed", f"{run.name} did not compile: {run.compile_error}")
    if run.run_error:
        return Outcome("failed", f"{run.name} did not run: {run.run_error}")
    result = run.methods.get(method)
    hook = f"{run.name}: {run.case_error}" if run.case_error else ""
    if result is None:
        why = hook or (
            f"%UnitTest.Manager recorded no result for {run.name}:{method} "
            "(it ran no such Test method)"
        )
        return Outcome("failed", why)
    lines = [failure_text(result, item, test) for item in result.asserts if item.status == FAILED]
    if result.error_description or (result.status == FAILED and not lines):
        lines.append(
            f"{result.error_action or 'error'}: {result.error_description or 'failed'}".strip()
        )
    if hook:
        lines.append(f"the class's setup or teardown failed: {hook}")
    if lines:
        # What the method logged with $$$LogMessage, where tests write "expected ... got"
        # (intersystems/ipm's own tests do). The console shows "LogMessage:<text>" at the
        # asserts' level (intersystems-testingmanager debugTracker.ts); that the tables keep
        # them as TestAssert rows with that Action is unverified: without such rows, nothing.
        logged = [f"  {a.description}" for a in result.asserts if a.action == "LogMessage"]
        if logged:
            lines.append("logged by the method:\n" + "\n".join(logged))
        return Outcome("failed", "\n\n".join(lines))
    if result.status == SKIPPED:
        skipped = [a.description for a in result.asserts if a.status == SKIPPED]
        return Outcome("skipped", "; ".join(skipped) or "skipped")
    return Outcome("passed")


def failure_text(result: MethodResult, item: Assert, test: TestClass | None) -> str:
    """One failed assert: what failed, expected and actual as written, and where."""
    lines = [f"{item.action} failed: {item.description}"]
    where = source_line(item.location, test)
    if where is not None:
        path, number, code = where
        args = macro_arguments(code, item.action)
        label = _COMPARED.get(item.action)
        if label and len(args) >= 2:
            lines.append(f"  actual:   {args[0]}")
            lines.append(f"  {label}: {args[1]}")
        elif args:
            lines.append(f"  argument: {args[0]}")
        lines.append(f"  at {item.location} ({_shown(path)}:{number})")
        lines.append(f"  {number:>5} | {code.strip()}")
    elif item.location:
        lines.append(f"  at {item.location}")
    return "\n".join(lines)


def _shown(path: Path) -> Path:
    """``path`` relative to the working folder when it is inside it (as pytest shows paths)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def source_line(location: str, test: TestClass | None) -> tuple[Path, int, str] | None:
    """The file, line number and text a ``Method+offset^Class.cls`` location points to: the
    offset counts from the method's signature line (intersystems-testingmanager's mapping of
    assert locations back to class source). None for other locations (an INT routine)."""
    match = _LOCATION.match(location)
    if match is None or test is None or not match.group("doc").endswith(".cls"):
        return None
    place = test.lines.get(match.group("label"))
    if place is None:
        return None
    path, signature = place
    number = signature + int(match.group("offset") or 0)
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    if not 0 < number <= len(text):
        return None
    return path, number, text[number - 1]
