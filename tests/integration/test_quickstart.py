"""docs/quickstart.md runs as written on the stand-in image, and prints what the page shows.

The page is played by tests/docs_pages.py (its files written, its commands run, each output
compared with the lines under the command; that module says how a line is compared). Nothing
is substituted: the commands run on a private engine where the stand-in image is named
``intersystemsdc/iris-community`` (tests/private_engine.py).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from tests.docs_pages import page_steps, play
from tests.integration.conftest import cli_env
from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.docker

PAGE = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
REAL_REPO = "intersystemsdc/iris-community"
PROJECT = "myproject"  # the folder the page's project is in (its snapshots' names show it)


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
    for step, _ in play(PAGE, project, env, timeout=300):
        assert step.command is not None
        assert shlex.split(step.command)[0] == "iris-envs", step.command
