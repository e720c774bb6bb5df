"""The README's example configuration loads, and its set-up command is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

from iris_envs.config.load import load_project

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_example_configuration_loads(tmp_path: Path) -> None:
    toml = re.search(r"```toml\n(.*?)```", README, re.DOTALL)
    assert toml, "the README lost its example configuration"
    (tmp_path / "iris-envs.toml").write_text(toml.group(1), encoding="utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "schema.sql").write_text(
        "CREATE TABLE Demo.Item (Name VARCHAR(50))\nGO\n"
    )
    (tmp_path / "tests" / "data.gof").write_text("")
    project = load_project(tmp_path / "iris-envs.toml")
    assert sorted(project.envs) == ["app", "iris-2024.1", "iris-2025.1"]
    for name in re.findall(r"iris-envs run -e ([\w.,-]+)", README):
        assert set(name.split(",")) <= set(project.envs), name


def test_ci_runs_the_readme_set_up_command_verbatim() -> None:
    blocks = re.findall(r"```console\n\$ (.*?)\n```", README)
    assert "iris-envs run -- pytest" in blocks
    setup = next(b for b in blocks if b.startswith("bash scripts/ensure-docker"))
    assert setup in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
