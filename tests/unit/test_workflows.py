"""The project's GitHub workflows, the documented example and `iris-envs matrix` output are
valid GitHub Actions (issue 11 item 8), checked with check-jsonschema's vendored schema."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from iris_envs.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def validate(*files: Path) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.fail("check-jsonschema is missing: pip install -e '.[test]'")
    # As a module: the script is check-jsonschema.exe on Windows, beside another python.exe.
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema"]
    return subprocess.run(
        [*command, "vendor.github-workflows", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_projects_workflows_are_valid() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    assert workflows
    done = validate(*workflows)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_documented_example_workflow_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```yaml\n(.*?)```", text, re.S)
    example = tmp_path / "example.yml"
    example.write_text(block, encoding="utf-8")
    done = validate(example)
    assert done.returncode == 0, done.stdout + done.stderr


def test_matrix_output_is_accepted_as_a_strategy_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["matrix", "-c", str(ROOT / ".github" / "real-iris.toml"), "--offline"]) == 0
    matrix = json.loads(capsys.readouterr().out)
    assert [entry["env"] for entry in matrix["include"]] == ["iris-2024.1", "iris-2025.1"]
    assert all(isinstance(v, str) for entry in matrix["include"] for v in entry.values())
    workflow = {
        "on": "push",
        "jobs": {
            "t": {
                "runs-on": "ubuntu-latest",
                "strategy": {"matrix": matrix},
                "steps": [{"run": "echo ${{ matrix.env }} ${{ matrix.key }}"}],
            }
        },
    }
    path = tmp_path / "generated.json"
    path.write_text(json.dumps(workflow), encoding="utf-8")
    done = validate(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_release_workflow_builds_checks_and_publishes_on_a_version_tag() -> None:
    """Issue 23 item 1: sdist and wheel built and checked on every push, published to PyPI with
    trusted publishing (OIDC, no token) only for a version tag."""
    from ruamel.yaml import YAML  # check-jsonschema's YAML reader (the test extra has it)

    path = ROOT / ".github" / "workflows" / "release.yml"
    assert path.exists(), "no release workflow"
    done = validate(path)
    assert done.returncode == 0, done.stdout + done.stderr
    workflow = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    triggers = workflow["on"]
    assert "v*" in triggers["push"]["tags"]
    build, publish = workflow["jobs"]["build"], workflow["jobs"]["publish"]
    commands = "\n".join(step.get("run", "") for step in build["steps"])
    for needed in ("python -m build", "twine check", "scripts/check_wheel.py"):
        assert needed in commands, needed
    assert publish["needs"] == "build"
    assert publish["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert publish["permissions"] == {"id-token": "write"}
    [step] = [s for s in publish["steps"] if "uses" in s and "pypi-publish" in s["uses"]]
    assert step["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert "with" not in step or "password" not in step["with"]  # trusted publishing: no token
