"""docs/quickstart.md runs as written on the stand-in image, and prints what the page shows.

The page is read top to bottom: a fenced block with ``title="PATH"`` writes that file into the
project; a ``console`` block runs each ``$ command`` (through the shell, stderr merged into
stdout, as a terminal shows them) and compares the output with the lines under it. Compared
with whitespace runs collapsed; ``...`` in a line matches any text, a line of only ``...``
any number of lines. Nothing is substituted: the commands run on a private engine where the
stand-in image is named ``intersystemsdc/iris-community`` (tests/private_engine.py).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import cli_env
from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.docker

PAGE = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
REAL_REPO = "intersystemsdc/iris-community"
FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="([^"]+)"')
PROJECT = "myproject"  # the folder the page's project is in (its snapshots' names show it)


@dataclass(frozen=True)
class Step:
    """Write a file, or run a command and expect output."""

    path: str | None = None
    text: str = ""
    command: str | None = None
    expected: tuple[str, ...] = ()


def page_steps(page: str) -> list[Step]:
    steps: list[Step] = []
    for fence in FENCE.finditer(page):
        language, info, body = fence.groups()
        title = TITLE.search(info)
        if title:
            steps.append(Step(path=title.group(1), text=body))
        elif language == "console":
            command: str | None = None
            expected: list[str] = []
            for line in body.splitlines():
                if line.startswith("$ "):
                    if command is not None:
                        steps.append(Step(command=command, expected=tuple(expected)))
                    command, expected = line[2:], []
                else:
                    expected.append(line)
            assert command is not None, f"a console block without a command:\n{body}"
            steps.append(Step(command=command, expected=tuple(expected)))
    return steps


def _squash(line: str) -> str:
    return " ".join(line.split())


def expectation(lines: tuple[str, ...]) -> re.Pattern[str]:
    """The page's lines as one pattern over the squashed output."""
    parts = []
    for line in lines:
        squashed = _squash(line)
        if squashed == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(p) for p in squashed.split("...")) + r"\n")
    return re.compile("".join(parts))


def matches(expected: tuple[str, ...], output: str) -> bool:
    squashed = "".join(_squash(line) + "\n" for line in output.splitlines())
    return expectation(expected).fullmatch(squashed) is not None


def test_the_matcher_is_strict() -> None:
    """A line the page does not show (and no ... stands for) is a mismatch."""
    assert matches(("a ... c", "..."), "a b c\nd\n")
    assert matches(("a", "...", "z"), "a\nb\nc\nz\n")
    assert not matches(("a", "z"), "a\nb\nz\n")
    assert not matches(("a ... c",), "a b c\nd\n")
    assert not matches(("x",), "y\n")


def test_every_quickstart_command_runs_as_written(
    tmp_path: Path, standin_images: dict[str, str], private_engine: PrivateEngine
) -> None:
    # The page uses the real image names and environment names every zero-config project
    # shares (`default`): on a private engine the stand-in carries those names, and the page's
    # snapshots are built there, never compared with (or removed from) another project's.
    for tag in ("latest-em", "2025.1"):
        private_engine.docker("tag", standin_images["2025.1"], f"{REAL_REPO}:{tag}")
    private_engine.docker("tag", standin_images["2024.1"], f"{REAL_REPO}:2024.1")
    project = tmp_path / PROJECT
    (project / "tests").mkdir(parents=True)
    bin_dir = Path(sys.executable).parent
    env = cli_env(
        {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "DOCKER_HOST": private_engine.host,
        }
    )
    steps = page_steps(PAGE.read_text(encoding="utf-8"))
    assert sum(1 for s in steps if s.command) >= 8, "the quickstart lost its commands"
    for step in steps:
        if step.path is not None:
            target = project / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text, encoding="utf-8")
            continue
        assert step.command is not None
        assert shlex.split(step.command)[0] == "iris-envs", step.command
        done = subprocess.run(
            ["bash", "-c", step.command + " 2>&1"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = done.stdout
        assert done.returncode == 0, f"$ {step.command}\n{output}"
        assert matches(step.expected, output), (
            f"$ {step.command}\n--- the page shows:\n"
            + "\n".join(step.expected)
            + f"\n--- it printed:\n{output}"
        )
