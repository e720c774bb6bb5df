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


def set_up_commands() -> list[str]:
    """The README's one-command console blocks: the main job, then this project's tests."""
    return re.findall(r"```console\n\$ (.*?)\n```", README)


def test_the_readme_has_exactly_two_set_up_commands_main_job_first() -> None:
    main_job, tests = set_up_commands()
    # The main job from a checkout: install it, then run the example's tests (issue 23 item 2;
    # tests/integration/test_readme_main_job.py runs it as written).
    assert main_job.endswith("cd examples/quickstart && iris-envs run -- pytest"), main_job
    assert "pip install -e ." in main_job
    assert tests.startswith("bash scripts/ensure-docker")


def test_ci_runs_the_readme_set_up_command_verbatim() -> None:
    _, setup = set_up_commands()
    assert setup in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_install_says_how_until_there_is_a_release() -> None:
    assert "not on PyPI yet" in README
    assert "iris-envs @ git+https://github.com/OWNER/iris-envs" in README


def commands_of(console: str) -> str:
    """The lines a reader types in a console block (``$ ...``), not the output shown under them
    (e.g. nox echoing a noxfile's ``session.install``)."""
    return "\n".join(line for line in console.splitlines() if line.startswith("$ "))


def test_no_page_installs_a_release_that_does_not_exist_yet() -> None:
    """Issue 23 item 1: `pip install iris-envs` fails until the first release, so no command in
    the README or the docs may rely on it (the bare package name as an argument of pip install,
    in a code block or inline code), unless the words next to it say it does not work yet."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    offenders = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        code = [
            (commands_of(m.group(2)) if m.group(1) == "console" else m.group(2), "")
            for m in re.finditer(r"```(\S*)[^\n]*\n(.*?)```", text, re.S)
        ]
        code += [
            (m.group(1), text[max(0, m.start() - 40) : m.end() + 40])
            for m in re.finditer(r"`([^`\n]+)`", text)
        ]
        for block, around in code:
            if "finds nothing" in around or "Once released" in around:
                continue
            for line in block.splitlines():
                # Each `pip install ...` up to the next && ; | : its arguments, one by one.
                for args in re.findall(r"pip install ([^&;|\n]*)", line):
                    if "iris-envs" in args.split():
                        offenders.append(f"{page.name}: {line.strip()}")
    assert offenders == []
