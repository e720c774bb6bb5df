"""docs/nox.md runs as written (issue 23 item 3): its project, noxfile and commands, read and
compared as tests/docs_pages.py does, against the stand-in images.

The page installs ``iris-envs`` into the session's virtualenv by name, as a user will once it is
released; here a wheel of this checkout stands in for that release (PIP_FIND_LINKS), as the
stand-in image stands in for InterSystems' images, which run on a private engine
(tests/private_engine.py) under their real names, so the page's image names and environment
names are used unchanged and touch nothing on the shared engine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs_pages import page_steps, play
from tests.integration.test_readme_main_job import copy_checkout
from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.docker

PAGE = Path(__file__).resolve().parents[2] / "docs" / "nox.md"
# What urllib3 logs at DEBUG for each request the docker SDK makes to the engine.
HTTP_DEBUG = re.compile(r'"(GET|POST|DELETE|PUT|HEAD) /\S* HTTP/1\.1" \d{3}|Starting new HTTP')


def test_the_nox_page_runs_as_written_without_debug_lines(
    tmp_path: Path, private_engine: PrivateEngine, standin_images: dict[str, str]
) -> None:
    for version, image in standin_images.items():
        private_engine.docker("tag", image, f"intersystemsdc/iris-community:{version}")
    wheels = tmp_path / "wheels"
    source = copy_checkout(tmp_path / "iris-envs")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(wheels), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]

    project = tmp_path / "myapp"  # the folder the page's snapshot names show
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DOCKER_HOST": private_engine.host,
            "CI": "true",
            # `pip install iris-envs` in the session finds this checkout's wheel.
            "PIP_FIND_LINKS": " ".join(
                filter(None, [os.environ.get("PIP_FIND_LINKS"), str(wheels)])
            ),
        }
    )
    steps = page_steps(PAGE.read_text(encoding="utf-8"))
    assert [s.command for s in steps if s.command] == ["nox -l", "nox -s 'tests(iris-2025.1)'"]
    for step, output in play(PAGE, project, env, timeout=600):
        debug = [line for line in output.splitlines() if HTTP_DEBUG.search(line)]
        assert debug == [], f"$ {step.command}: {len(debug)} HTTP debug lines, e.g. {debug[:3]}"
    # The session's container was removed after its body; its snapshot was built once.
    assert private_engine.docker("ps", "-aq", "--filter", "label=org.iris-envs.env").stdout == ""
