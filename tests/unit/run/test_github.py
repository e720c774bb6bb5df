"""run/github.py: the job summary is GitHub-flavoured Markdown GitHub renders as meant, and every
annotation and group follows GitHub's documented workflow-command syntax."""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from iris_envs.cli.main import main
from iris_envs.errors import BuildFailed, Where
from iris_envs.run import github
from iris_envs.run.report import report_data
from iris_envs.run.results import EnvResult
from tests.markdown import gfm, table_rows

# "Workflow commands for GitHub Actions": ::error file={name},line={line},endLine={endLine},
# title={title}::{message} (also col, endColumn); properties escape % CR LF : , and messages
# escape % CR LF. One command per line.
PROPERTY = r"(?:file|line|endLine|col|endColumn|title)=[^,:\r\n]*"
ANNOTATION = re.compile(rf"^::(error|warning|notice)(?: {PROPERTY}(?:,{PROPERTY})*)?::[^\r\n]*$")
HOSTILE = "a|b `c` ``` <script>alert(1)</script> %0A 50% :: ,\nsecond line\r\n::error::x"


def unescape(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def parse_annotation(line: str) -> tuple[str, dict[str, str], str]:
    assert ANNOTATION.match(line), line
    head, _, message = line[2:].partition("::")
    level, _, props = head.partition(" ")
    properties = dict(p.split("=", 1) for p in props.split(",")) if props else {}
    return level, {k: unescape(v) for k, v in properties.items()}, unescape(message)


def results(tmp_path: Path) -> list[EnvResult]:
    log = tmp_path / "build.log"
    log.write_text("--- setup[1] shell exit 3\n::error::a log line is no command\n")
    passed = EnvResult("iris-2025.1", status="passed", iris_version="2025.1.0.225.1")
    passed.snapshot_state, passed.snapshot_ref = "cached", "iris-envs/iris-2025.1:0123456789ab"
    passed.image_id = "sha256:" + "ab" * 32
    passed.snapshot_reasons = ["a snapshot with this key is here already (built 2026-01-01)"]
    passed.timings = {"snapshot": 0.4, "start": 1.25, "command": 3.5}
    passed.spare = "iris-envs-spare-iris-2025.1-1234"
    passed.container_id = "c" * 64
    passed.command = ("pytest", "--junitxml=.iris-envs/iris-2025.1/junit.xml")
    passed.monitoring = {
        "deltas": {"global_references": 296},
        "pressure": [{"at": 2.5, "reason": "free memory 90 MB < 100 MB"}] * 2,
    }
    broken = EnvResult("iris-2024.1", status="error", exit_code=5)
    broken.snapshot_reasons = ["no snapshot of iris-2024.1 exists yet"]
    broken.timings = {"snapshot": 12.0}
    broken.build_log = str(log)
    broken.error = "environment iris-2024.1: setup[1] shell exit 3 failed: " + HOSTILE
    broken.where = Where(tmp_path / "iris-envs.toml", ("env", "iris-2024.1", "setup", 1, "shell"))
    failed = EnvResult("iris-2023.1", status="failed", exit_code=1, iris_version="a|b")
    failed.command = ("pytest", "-x")
    return [passed, broken, failed]


def report(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "iris-envs.toml").write_text(
        textwrap.dedent(
            """\
            [env."iris-2024.1"]
            image = "intersystems/iris-community:2024.1"
            setup = [
              { shell = "exit 3" },
            ]
            """
        )
    )
    return report_data(results(tmp_path), ["pytest"], 1)


# -- annotations ---------------------------------------------------------------------------


def test_escaping_follows_the_documented_rules() -> None:
    assert github.escape_data("50%\r\n:,") == "50%25%0D%0A:,"
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = github.annotation("warning", HOSTILE, file="a,b:c.toml", line=3, title="t:1,2")
    level, properties, message = parse_annotation(line)
    assert (level, message) == ("warning", HOSTILE)
    assert properties == {"file": "a,b:c.toml", "line": "3", "title": "t:1,2"}
    with pytest.raises(ValueError):
        github.annotation("fatal", "x")


def test_annotations_point_at_the_step_that_failed_and_name_each_failed_environment(
    tmp_path: Path,
) -> None:
    lines = github.env_annotations(report(tmp_path), {"GITHUB_WORKSPACE": str(tmp_path)})
    parsed = [parse_annotation(line) for line in lines]
    assert len(parsed) == 2  # the passed environment has none
    level, props, message = parsed[0]
    assert level == "error" and props == {
        "file": "iris-envs.toml",  # relative to the workspace: GitHub attaches it to the file
        "line": "4",
        "title": "iris-envs: iris-2024.1",
    }
    assert message.endswith(HOSTILE)
    level, props, message = parsed[1]
    assert props == {"title": "iris-envs: iris-2023.1"} and "code 1: pytest -x" in message


def test_build_logs_are_folded_with_workflow_commands_stopped_inside(tmp_path: Path) -> None:
    lines = github.build_log_groups(report(tmp_path))
    assert lines[0] == "::group::iris-envs build log: iris-2024.1"
    token = lines[1].removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert lines[2:4] == ["--- setup[1] shell exit 3", "::error::a log line is no command"]
    assert lines[4:] == [f"::{token}::", "::endgroup::"]
    assert github.build_log_groups(report_data([], [], 0)) == []


def test_a_configuration_error_is_annotated_at_its_line_in_github_actions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "iris-envs.toml"
    config.write_text('[env.app]\nimage = "x"\n\nnamespace = "no such"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["list", "-c", str(config)]) == 2
    assert "::" not in capsys.readouterr().out  # not in GitHub Actions: no annotation
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert main(["list", "-c", str(config)]) == 2
    [line] = capsys.readouterr().out.splitlines()
    _, props, message = parse_annotation(line)
    assert props == {"file": "iris-envs.toml", "line": "4", "title": "iris-envs list"}
    assert "env.app.namespace" in message
    assert main(["run", "--no-github", "-c", str(config)]) == 2
    assert capsys.readouterr().out == ""


def test_a_build_error_without_a_place_is_annotated_without_a_file() -> None:
    line = github.error_annotation(BuildFailed("the engine said no", hint="retry"))
    assert parse_annotation(line) == (
        "error",
        {"title": "iris-envs"},
        "the engine said no\n  hint: retry",
    )


def test_enabled_follows_github_actions_unless_told() -> None:
    assert github.enabled(None, {"GITHUB_ACTIONS": "true"})
    assert not github.enabled(None, {})
    assert not github.enabled(False, {"GITHUB_ACTIONS": "true"})
    assert github.enabled(True, {})


# -- the summary ---------------------------------------------------------------------------


def test_the_summary_is_one_table_row_per_environment_and_no_html(tmp_path: Path) -> None:
    text = github.summary_markdown(report(tmp_path))
    tokens = gfm().parse(text)
    assert not [t for t in tokens if t.type.startswith("html")]
    for token in tokens:  # nor inline HTML, however hostile the error or label
        assert not [c for c in token.children or () if c.type.startswith("html")]
    assert [t.type for t in tokens].count("table_open") == 1
    header, *body = table_rows(tokens)
    assert header[0] == "environment" and len(header) == 9
    assert [len(r) for r in body] == [9, 9, 9]  # a | in a value never adds a cell
    passed, broken, failed = body
    assert passed[1] == "✅ passed" and passed[2] == "`2025.1.0.225.1`"
    assert passed[3] == "cached `abababababab`"
    assert passed[4:8] == ["0.40 s", "1.25 s", "3.50 s", "0"]
    assert passed[8] == "spare `iris-envs-spare-iris-2025.1-1234`"
    assert broken[1] == "❌ error" and broken[7] == "5" and broken[6] == "-"
    assert failed[2] == "`a|b`"  # the table parser took the escape: one cell, the code a|b


def test_the_summary_says_why_and_shows_each_error_whole(tmp_path: Path) -> None:
    text = github.summary_markdown(report(tmp_path))
    tokens = gfm().parse(text)
    fences = [t.content for t in tokens if t.type == "fence"]
    assert fences == [report(tmp_path)["environments"][1]["error"].replace("\r\n", "\n") + "\n"]
    assert "a snapshot with this key is here already" in text
    assert "no snapshot of iris-2024.1 exists yet" in text
    assert "- IRIS metrics, what the command added: `global_references +296`" in text
    assert "monitoring backed off 2 time(s): `free memory 90 MB < 100 MB`" in text
    assert f'`{tmp_path / "iris-envs.toml"}:4` (`env."iris-2024.1".setup[1].shell`)' in text
    in_workspace = github.summary_markdown(report(tmp_path), {"GITHUB_WORKSPACE": str(tmp_path)})
    assert '- declared at `iris-envs.toml:4` (`env."iris-2024.1".setup[1].shell`)' in in_workspace
    assert text.startswith("## iris-envs run: 1 of 3 passed (exit code 1)\n")


def test_a_huge_run_keeps_the_summary_under_githubs_limit(tmp_path: Path) -> None:
    many = []
    for i in range(400):
        r = EnvResult(f"e{i}", status="error", exit_code=5)
        r.error = "x" * 20000
        many.append(r)
    text = github.summary_markdown(report_data(many, ["pytest"], 1))
    assert len(text.encode()) < github.SUMMARY_LIMIT
    assert text.count("\n| `e") == 400


def test_publish_appends_the_summary_and_prints_the_commands(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    out = io.StringIO()
    environ = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(tmp_path)}
    assert github.publish(report(tmp_path), stream=out, environ=environ) == ""
    assert summary.read_text().startswith("earlier step\n## iris-envs run:")
    printed = out.getvalue().splitlines()
    assert printed[0].startswith("::group::") and printed[-1].startswith("::error title=")
    unwritable = {"GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "such" / "file")}
    problem = github.publish(report(tmp_path), stream=io.StringIO(), environ=unwritable)
    assert problem.startswith("could not write the job summary")
