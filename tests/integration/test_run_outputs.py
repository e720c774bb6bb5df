"""What a run leaves behind per environment: placeholders in the command write one file each."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from tests.integration.test_run import PYTEST, Project, run_project

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
