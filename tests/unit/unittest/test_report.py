"""``iris-envs unittest``'s summary line and JUnit file (issue 28)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from iris_envs.unittest.report import Verdict, summary, write_junit
from iris_envs.unittest.results import Outcome


def test_junit_has_one_testcase_per_method_with_failures_and_skips(tmp_path: Path) -> None:
    found = [
        Verdict("Demo.T", "TestA", Outcome("passed"), 0.5),
        Verdict("Demo.T", "TestB", Outcome("failed", "AssertEquals failed: x\n  expected: 3"), 0),
        Verdict("Demo.T", "TestC", Outcome("skipped", "no data"), 0),
    ]
    assert summary(found) == "1 failed, 1 passed, 1 skipped"
    assert summary([]) == "no tests ran"
    path = tmp_path / "out" / "junit.xml"
    write_junit(path, found)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("Demo.T", "TestA"),
        ("Demo.T", "TestB"),
        ("Demo.T", "TestC"),
    ]
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "AssertEquals failed: x"
    assert failure.text == "AssertEquals failed: x\n  expected: 3"
    assert cases[2].find("skipped") is not None
