"""What a run leaves behind per environment: placeholders in the command write one file each;
in GitHub Actions a job summary, annotations and folded build logs."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from iris_envs.run import html_report
from tests.browser import colour_bands, screenshot
from tests.integration.test_run import PYTEST, Project, run_project
from tests.markdown import gfm, table_rows

__all__ = ["run_project"]  # the fixture, shared with test_run.py

pytestmark = pytest.mark.docker


def test_a_two_version_matrix_writes_one_junit_file_per_environment(
    run_project: Callable[..., Project],
) -> None:
    project = run_project("2024.1", "2025.1")
    names = list(project.envs)
    junit = "--junitxml={env_dir}/junit.xml"
    done = project.cli(
        "run", "-e", ",".join(names), "-p", "2", "--report", "r.json",
        "--", *PYTEST, junit, "-o", "junit_suite_name={env}-{iris_version}", "tests",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((project.root / "r.json").read_text())
    for entry in report["environments"]:
        name, version = entry["env"], project.envs[entry["env"]]
        path = project.root / ".iris-envs" / name / "junit.xml"
        suite = ET.parse(path).getroot().find("testsuite")  # parses: valid XML
        assert suite is not None
        assert suite.get("name") == f"{name}-{version}.0.0.0"  # the stand-in's version label
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
        assert [c.get("name") for c in suite.iter("testcase")] == ["test_login"]
        assert entry["iris_version"] == f"{version}.0.0.0"
        assert f"--junitxml={path}" in entry["command"]
    assert (project.root / ".iris-envs" / ".gitignore").read_text().strip().endswith("*")


def test_output_moves_env_dir_and_an_unknown_placeholder_fails_before_any_build(
    run_project: Callable[..., Project],
) -> None:
    project = run_project("2025.1")
    typo = project.cli("run", "--", *PYTEST, "--junitxml={envdir}/junit.xml")
    assert typo.returncode == 2, typo.stdout + typo.stderr
    assert "unknown placeholder {envdir}" in typo.stderr
    assert "building" not in typo.stderr  # refused before the snapshot

    done = project.cli(
        "run", "--output", "out", "--", "sh", "-c", "echo {{literal}} > {env_dir}/seen.txt"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project.root / "out" / project.env / "seen.txt").read_text() == "{literal}\n"
    assert not (project.root / ".iris-envs").exists()


def test_in_github_actions_a_run_writes_a_summary_annotates_the_failed_step_and_folds_logs(
    run_project: Callable[..., Project], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = run_project("2024.1", "2025.1")
    good, bad = list(project.envs)
    config = project.root / "iris-envs.toml"
    text = config.read_text()
    step_line = len(text.splitlines()) + 2  # the table of `bad` is the last one
    config.write_text(text + 'setup = [\n  { shell = "echo about to fail; exit 3" },\n]\n')
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(project.root))

    done = project.cli(
        "run", "-e", f"{good},{bad}", "-p", "2", "--spares", "1", "--report", "r.json",
        "--report", "run.html", "--monitor", "--", *PYTEST, "--junitxml={env_dir}/junit.xml",
        "tests",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    [error] = [line for line in lines if line.startswith("::error ")]
    assert error.startswith(
        f"::error file=iris-envs.toml,line={step_line},title=iris-envs%3A {bad}::"
    ), error
    assert "setup[1] shell echo about to fail; exit 3 failed" in error
    for env in (good, bad):  # both were built here: both logs are folded
        start = lines.index(f"::group::iris-envs build log: {env}")
        token = lines[start + 1].removeprefix("::stop-commands::")
        end = lines.index("::endgroup::", start)
        assert lines[end - 1] == f"::{token}::"
        assert any(f"build of {env}" in line for line in lines[start:end])
    folded = lines[lines.index(f"::group::iris-envs build log: {bad}") :]
    folded = folded[: folded.index("::endgroup::")]
    assert any(line.startswith("failed: setup[1] shell") for line in folded), folded
    assert any("about to fail" in line for line in folded), folded

    text = summary.read_text()
    header, *rows = table_rows(gfm().parse(text))
    assert header[:4] == ["environment", "result", "IRIS", "snapshot (image)"]
    by_env = {row[0].strip("`"): row for row in rows}
    assert by_env[good][1] == "✅ passed" and by_env[good][2] == "`2024.1.0.0.0`"
    assert by_env[good][3].startswith("built `") and by_env[good][8] == "started"
    assert by_env[bad][1] == "❌ error" and by_env[bad][7] == "5"
    assert f"no snapshot of {good} exists yet" in text
    assert f"- declared at `iris-envs.toml:{step_line}`" in text
    ET.parse(project.root / ".iris-envs" / good / "junit.xml")  # JUnit still written

    again = project.cli("run", "-e", good, "--spares", "0", "--", *PYTEST, "tests")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "::error" not in again.stdout and "::group::" not in again.stdout  # cached: no log
    header, *rows = table_rows(gfm().parse(summary.read_text().split("## iris-envs run:")[-1]))
    [row] = rows
    assert row[3].startswith("cached `") and row[8].startswith("spare `"), row
    assert "a snapshot with this key is here already" in summary.read_text()

    _the_html_report_renders_a_timeline_for_both(project.root / "run.html", good, bad, tmp_path)


def _the_html_report_renders_a_timeline_for_both(
    page: Path, good: str, bad: str, tmp_path: Path
) -> None:
    """Headless Chromium shows a row per environment: the built snapshot, its phases beneath,
    start and the passed command for one, the failed build (red) for the other; and, further
    down, the monitored environment's charts, one per IRIS metric."""
    text = page.read_text()
    assert good in text and bad in text and "setup[1] shell" in text
    assert "IRIS metrics:" in text and text.count("<polyline") >= 2
    png = tmp_path / "run-report.png"
    screenshot(page, png, height=2400)
    keep = os.environ.get("IRIS_ENVS_TEST_ARTIFACTS")
    if keep:  # CI keeps what the page looked like (.ci/run)
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / "run-report.png")
        shutil.copy(page, Path(keep) / "run-report.html")
    seen = colour_bands(png, html_report.COLOURS)
    [good_row] = seen["built"]
    assert seen["passed"] == [good_row] and seen["start"] == [good_row], seen
    # The phases alternate two tints; which phase gets which depends on their order, and a
    # phase as short as a 0.1 s step is narrower than a band's least pixels: both tints count.
    phases = sorted(seen["build-phase"] + seen["build-phase-2"])
    assert phases and good_row[1] < phases[0][0], seen
    [bad_row] = [band for band in seen["error"] if band[0] > phases[0][1]]
    assert bad_row[0] > good_row[1], seen
    charts = colour_bands(png, {"chart": html_report.COLOURS["chart"]}, least=60)["chart"]
    assert charts and charts[0][0] > bad_row[1], charts  # drawn lines, below the timeline
