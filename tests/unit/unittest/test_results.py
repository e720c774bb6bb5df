"""A %UnitTest run's rows become per-method verdicts and readable failures (issue 28)."""

from __future__ import annotations

from pathlib import Path

from iris_envs.unittest.results import outcome, parse_rows
from iris_envs.unittest.source import find_test_classes, index_classes

MARK = "IRIS-ENVS-UT-abcd"
CLASS = """\
Class Demo.T Extends %UnitTest.TestCase
{
Method TestA()
{
    Set total="2"
    Do $$$AssertEquals(total, 3, "the total")
}
Method TestB()
{
}
Method TestC()
{
}
}
"""


def rows(*lines: str) -> str:
    # As a session shows them: after a prompt, fields JSON-escaped, tab-separated.
    return "\n".join(f"USER>{MARK}\t" + line.replace("|", "\t") for line in lines)


def test_failed_asserts_show_expected_actual_and_the_source_line(tmp_path: Path) -> None:
    (tmp_path / "T.cls").write_text(CLASS)
    [test] = find_test_classes([tmp_path], index_classes([tmp_path]))
    run = parse_rows(
        "Demo.T",
        rows(
            "case|Demo.T|0||There are failed TestMethods",
            "method|Demo.T|TestA|0|0.01||",
            "method|Demo.T|TestB|2|0||",
            "method|Demo.T|TestC|0|0|LogStateStatus|ERROR #5002: ObjectScript error: <UNDEFINED>",
            "assert|Demo.T|TestA|1|0|AssertEquals|the total|TestA+3^Demo.T.cls",
            "assert|Demo.T|TestB|1|2|AssertSkipped|no database here|TestB+1^Demo.T.cls",
        ),
        MARK,
    )
    a = outcome(run, "TestA", test)
    assert a.status == "failed"
    assert a.message.splitlines() == [
        "AssertEquals failed: the total",
        "  actual:   total",
        "  expected: 3",
        f"  at TestA+3^Demo.T.cls ({tmp_path / 'T.cls'}:6)",
        '      6 | Do $$$AssertEquals(total, 3, "the total")',
    ]
    assert outcome(run, "TestB", test) == outcome(run, "TestB")
    assert outcome(run, "TestB").status == "skipped"
    assert outcome(run, "TestB").message == "no database here"
    logged = parse_rows(
        "Demo.T",
        rows(
            "method|Demo.T|TestA|0|0||",
            "assert|Demo.T|TestA|1|0|AssertTrue|ok|TestA+2^Demo.T.cls",
            "assert|Demo.T|TestA|2|1|LogMessage|expected 3 got 2|TestA+3^Demo.T.cls",
        ),
        MARK,
    )
    assert outcome(logged, "TestA").message.endswith("logged by the method:\n  expected 3 got 2")
    c = outcome(run, "TestC", test)
    assert (c.status, c.message) == (
        "failed",
        "LogStateStatus: ERROR #5002: ObjectScript error: <UNDEFINED>",
    )
    missing = outcome(run, "TestD", test)
    assert "recorded no result for Demo.T:TestD" in missing.message


def test_a_hook_error_fails_every_item_and_compile_errors_and_run_errors_say_so() -> None:
    hook = parse_rows(
        "Demo.T",
        rows(
            "case|Demo.T|0|OnBeforeAllTests|ERROR #5001: no fixture",
            "status|ERROR #5001: ignored because results exist",
        ),
        MARK,
    )
    assert outcome(hook, "TestA").message == "Demo.T: OnBeforeAllTests: ERROR #5001: no fixture"
    after = parse_rows(
        "Demo.T",
        rows("case|Demo.T|0|OnAfterAllTests|boom", "method|Demo.T|TestA|1|0||"),
        MARK,
    )
    verdict = outcome(after, "TestA")
    assert verdict.status == "failed" and "setup or teardown failed: Demo.T: OnAfterAll" in (
        verdict.message
    )
    compiled = parse_rows("Demo.T", rows("compile|ERROR #5475: Error compiling routine"), MARK)
    assert outcome(compiled, "TestA").message == (
        "Demo.T did not compile: ERROR #5475: Error compiling routine"
    )
    failed = parse_rows("Demo.T", rows("status|ERROR #5001: no root"), MARK)
    assert "did not run: %UnitTest.Manager returned an error: ERROR #5001: no root" in (
        outcome(failed, "TestA").message
    )


def test_escaped_fields_and_other_classes_rows() -> None:
    run = parse_rows(
        "Demo.T",
        rows(
            'method|Demo.T|TestA|0|0||line one\\nsaid \\"no\\"\\ttab',
            "method|Other.T|TestA|1|0||",
        ),
        MARK,
    )
    assert run.methods["TestA"].error_description == 'line one\nsaid "no"\ttab'
    assert run.methods["TestA"].status == 0


def test_whether_ipm_is_installed_is_read_only_when_asked() -> None:
    mark = "M-1"
    assert parse_rows("A.B", "", mark).ipm is None
    assert parse_rows("A.B", f"{mark}\tipm\t0\t0\n", mark).ipm is False
    assert parse_rows("A.B", f"{mark}\tipm\t0\t1\n", mark).ipm is True  # the older %ZPM
