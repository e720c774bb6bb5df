"""The package as a user gets it (issue 23 item 1): the sdist and wheel build, pass `twine check`
and scripts/check_wheel.py (what .github/workflows/release.yml runs), and the wheel installed
into a fresh venv brings the `iris-envs` command and the pytest plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from iris_envs import __version__

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # No PYTHONPATH: the installed package must stand on its own, not import the checkout.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_wheel_installs_into_a_fresh_venv_with_the_command_and_the_plugin(
    tmp_path: Path,
) -> None:
    dist = tmp_path / "dist"
    # As the release workflow: the sdist first, then the wheel built from the sdist.
    built = run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=tmp_path)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [wheel] = dist.glob("*.whl")
    [sdist] = dist.glob("*.tar.gz")
    assert wheel.name == f"iris_envs-{__version__}-py3-none-any.whl"

    checked = run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    contents = run(sys.executable, ROOT / "scripts" / "check_wheel.py", wheel, cwd=tmp_path)
    assert contents.returncode == 0, contents.stdout + contents.stderr

    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    installed = run(venv / "bin" / "pip", "install", wheel, "pytest", cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    version = run(venv / "bin" / "iris-envs", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout
    # `pytest --help | grep iris-env`, in a folder that is no part of the checkout.
    grep = run("bash", "-c", f"{venv / 'bin' / 'pytest'} --help | grep -- --iris-env", cwd=tmp_path)
    assert grep.returncode == 0, grep.stdout + grep.stderr
    assert "--iris-env=NAME[,NAME]" in grep.stdout
    where = run(
        venv / "bin" / "python", "-c", "import iris_envs; print(iris_envs.__file__)", cwd=tmp_path
    )
    assert where.stdout.startswith(str(venv)), where.stdout  # the wheel's copy, not the checkout
