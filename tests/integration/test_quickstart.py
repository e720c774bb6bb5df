"""docs/quickstart.md runs as written on the stand-in image, and prints what the page shows.

The page is read top to bottom: a fenced block with ``title="PATH"`` writes that file into the
project; a ``console`` block runs each ``$ command`` (through the shell, stderr merged into
stdout, as a terminal shows them) and compares the output with the lines under it. Compared
with whitespace runs collapsed; ``...`` in a line matches any text, a line of only ``...``
any number of lines. The only substitution: the stand-in image's repository for
``intersystemsdc/iris-community`` (and back in the output).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import cli_env, docker

pytestmark = pytest.mark.docker

PAGE = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
REAL_REPO = "intersystemsdc/iris-community"
FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="([^"]+)"')
# Environments the page builds; their snapshots of this checkout's stand-in are removed.
PAGE_ENVS = ("default", "app", "iris-2024.1", "iris-2025.1")


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


def page_snapshots(repo: str) -> list[str]:
    """Snapshot images of the page's environments built on this checkout's stand-in."""
    ids: set[str] = set()
    for version in ("2024.1", "2025.1"):
        base = docker("image", "inspect", "-f", "{{.Id}}", f"{repo}:{version}").stdout.strip()
        for env in PAGE_ENVS:
            ids |= set(
                docker(
                    "images",
                    "-q",
                    "--filter",
                    f"label=org.iris-envs.env={env}",
                    "--filter",
                    f"label=org.iris-envs.base-image={base}",
                ).stdout.split()
            )
    return sorted(ids)


@pytest.fixture
def clean_page_snapshots(standin_images: dict[str, str]) -> Iterator[str]:
    """The stand-in repository; the page's snapshots are removed before and after the test."""
    repo = standin_images["2025.1"].rsplit(":", 1)[0]

    def remove() -> None:
        ids = page_snapshots(repo)
        if ids:
            docker("rmi", "-f", *ids, check=False)

    remove()  # a run killed earlier must not turn "built" into "cached"
    yield repo
    remove()


def test_every_quickstart_command_runs_as_written(
    tmp_path: Path, clean_page_snapshots: str
) -> None:
    repo = clean_page_snapshots
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    # Zero configuration uses intersystemsdc/iris-community:latest-em, which cannot be pulled
    # here: the same default environment on the stand-in (replaced by the page's own file).
    (project / "iris-envs.toml").write_text(f'[defaults]\nimage = "{repo}:2025.1"\n')
    bin_dir = Path(sys.executable).parent
    env = cli_env({"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"})
    steps = page_steps(PAGE.read_text(encoding="utf-8"))
    assert sum(1 for s in steps if s.command) >= 8, "the quickstart lost its commands"
    for step in steps:
        if step.path is not None:
            target = project / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step.text.replace(REAL_REPO, repo), encoding="utf-8")
            continue
        assert step.command is not None
        assert shlex.split(step.command)[0] == "iris-envs", step.command
        done = subprocess.run(
            ["bash", "-c", step.command.replace(REAL_REPO, repo) + " 2>&1"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = done.stdout.replace(repo, REAL_REPO)
        assert done.returncode == 0, f"$ {step.command}\n{output}"
        assert matches(step.expected, output), (
            f"$ {step.command}\n--- the page shows:\n"
            + "\n".join(step.expected)
            + f"\n--- it printed:\n{output}"
        )
