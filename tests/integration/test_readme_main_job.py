"""The README's main-job command runs as written from a fresh copy of the checkout (issue 23
item 2): it installs the checkout into a new venv and runs examples/quickstart's tests against
a warm IRIS of the zero-configuration default image.

That image cannot be pulled here, so the command runs against a private engine
(tests/private_engine.py) in which the stand-in image is tagged under the real name
``intersystemsdc/iris-community:latest-em``: the command and the example are used unchanged,
and the shared engine's images, including any real image of that name, are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from iris_envs.config.spec import DEFAULT_IMAGE
from iris_envs.naming import project_repository
from tests.integration.conftest import REPO_ROOT
from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.docker


def readme_main_job() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```console\n\$ (.*?)\n```", text)[0]


def copy_checkout(target: Path) -> Path:
    """The checkout's files as a fresh clone has them (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source = REPO_ROOT / relative
        if source.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    return target


def test_the_readme_main_job_command_runs_as_written(
    tmp_path: Path, private_engine: PrivateEngine, standin_images: dict[str, str]
) -> None:
    assert "examples/quickstart" in readme_main_job()
    private_engine.docker("tag", standin_images["2025.1"], DEFAULT_IMAGE)
    checkout = copy_checkout(tmp_path / "iris-envs")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"DOCKER_HOST": private_engine.host, "CI": "true"})
    done = subprocess.run(
        ["bash", "-c", readme_main_job() + " 2>&1"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout
    assert done.returncode == 0, output[-6000:]
    assert re.search(r"\b3 passed in ", output), output[-4000:]
    assert "quickstart: OK (snapshot built" in output, output[-4000:]
    assert "setup[1] load src/" in output and "setup[2] objectscript setup/seed.script" in output
    # Built from the image the example names, on the private engine only.
    images = private_engine.docker("images", "--format", "{{.Repository}}").stdout.split()
    snapshots = {image for image in images if image.startswith("iris-envs/")}
    example = (checkout / "examples" / "quickstart").resolve()
    # The example project's own repository (its key tag and latest), and nothing else.
    assert snapshots == {project_repository(example, "quickstart")}, images
