"""Verdicts of %UnitTest runs for ``iris-envs unittest``: printed lines and a JUnit XML file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from iris_envs.unittest.ipm import Module, with_ipm_hint
from iris_envs.unittest.results import ClassRun, Outcome, outcome
from iris_envs.unittest.source import TestClass


@dataclass(frozen=True)
class Verdict:
    cls: str
    method: str
    outcome: Outcome
    seconds: float


def verdicts(
    test: TestClass, run: ClassRun, module: Module | None = None, namespace: str = ""
) -> list[Verdict]:
    """One verdict per test method of ``test``, in the order the manager ran them (a failure of
    an IPM ``module``'s test says so when IPM is missing in ``namespace``)."""
    found = []
    for method in test.methods:
        result = run.methods.get(method)
        verdict = with_ipm_hint(outcome(run, method, test), run, module, namespace)
        found.append(Verdict(test.name, method, verdict, result.duration if result else 0))
    return found


def summary(all_verdicts: list[Verdict]) -> str:
    """``N passed, M failed, K skipped`` (counts that are 0 left out, as pytest does)."""
    counts = {status: 0 for status in ("failed", "passed", "skipped")}
    for verdict in all_verdicts:
        counts[verdict.outcome.status] += 1
    text = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    return text or "no tests ran"


def write_junit(path: Path, all_verdicts: list[Verdict]) -> None:
    """A JUnit XML file: one testcase per method (classname the class, name the method)."""
    failures = sum(1 for v in all_verdicts if v.outcome.status == "failed")
    skipped = sum(1 for v in all_verdicts if v.outcome.status == "skipped")
    suites = ET.Element("testsuites", name="iris-envs unittest")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="iris-envs unittest",
        tests=str(len(all_verdicts)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=f"{sum(v.seconds for v in all_verdicts):.3f}",
    )
    for verdict in all_verdicts:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=verdict.cls,
            name=verdict.method,
            time=f"{verdict.seconds:.3f}",
        )
        if verdict.outcome.status in ("failed", "skipped"):
            tag = "failure" if verdict.outcome.status == "failed" else "skipped"
            element = ET.SubElement(case, tag, message=verdict.outcome.message.splitlines()[0])
            element.text = verdict.outcome.message
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
