"""The test suite runs on an engine in daily use and leaves it as it was (issue 23, item 7).

An engine like an IRIS developer's, on a private dockerd: another project's snapshots (two keys
of one environment, and a zero-config `default` on the same image as the quickstart page), an
``intersystemsdc/iris-community`` image, and that project's running `up` container. The tests
that used to run an engine-wide prune, to refuse such an image and to remove other projects'
`default` snapshots then run against it, in a pytest of their own; afterwards everything is
still there, with the same image behind every name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO_ROOT, run_cli, write_project
from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.docker

VERSION = "2025.1"
DEFAULT_IMAGE = "intersystemsdc/iris-community:latest-em"  # iris_envs.config.spec.DEFAULT_IMAGE
# The tests that once touched other projects' snapshots or refused a developer's image: the
# engine-wide prune, the zero-configuration runs and the quickstart (the rest of their files
# never did; they run once, in the suite itself).
SUITE = (
    "tests/integration/test_cache_commands.py"
    "::test_prune_keeps_the_newest_dry_run_removes_nothing_and_in_use_images_stay",
    "tests/integration/test_fidelity.py::test_zero_config_run_passes_on_both_image_flavours",
    "tests/integration/test_quickstart.py",
)


def everything(engine: PrivateEngine) -> tuple[dict[str, str], dict[str, str]]:
    """Every image name -> image id, and every container id -> state, on the engine."""
    names = engine.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
    containers = engine.docker("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}").stdout
    return (
        dict(line.split() for line in names.splitlines() if "<none>" not in line),
        dict(line.split() for line in containers.splitlines()),
    )


def test_the_suite_leaves_another_projects_snapshots_images_and_containers_alone(
    tmp_path: Path, standin_images: dict[str, str], private_engine: PrivateEngine
) -> None:
    image = standin_images[VERSION]
    on_private = {"DOCKER_HOST": private_engine.host}
    other = tmp_path / "developer" / "other-project"
    for version in ("v1", "v2"):  # two snapshots of one environment: an old one and the newest
        write_project(
            other,
            f'[env.shared]\nimage = "{image}"\nsetup = [{{ shell = "echo {version}" }}]\n',
        )
        built = run_cli(["build", "-e", "shared"], other, on_private, timeout=180)
        assert built.returncode == 0, built.stderr
    up = run_cli(["up", "-e", "shared"], other, on_private, timeout=180)
    assert up.returncode == 0, up.stderr
    # A zero-config-like project on the stand-in: a `default` snapshot like the quickstart's.
    zero = write_project(tmp_path / "developer" / "zero", f'[defaults]\nimage = "{image}"\n')
    assert run_cli(["build"], zero, on_private, timeout=180).returncode == 0
    private_engine.docker("tag", image, DEFAULT_IMAGE)  # an IRIS developer's own image
    before = everything(private_engine)
    assert sum(name.startswith("iris-envs/") for name in before[0]) == 5, before

    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITE],
        cwd=REPO_ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            **on_private,
        },
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    tail = (suite.stdout + suite.stderr)[-6000:]
    after = everything(private_engine)
    gone = {name: ref for name, ref in before[0].items() if after[0].get(name) != ref}
    assert not gone, f"names gone or moved: {gone}\n{tail}"
    assert {c: s for c, s in before[1].items() if after[1].get(c) != s} == {}, tail
    assert suite.returncode == 0, tail
    assert run_cli(["down"], other, on_private).returncode == 0
