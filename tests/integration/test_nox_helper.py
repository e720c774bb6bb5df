"""`iris_envs.nox` (issue 11 item 7): a real nox run of a sample noxfile over two environments."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from tests.integration.conftest import MakeProject, cli_env, docker, remove_env_artifacts

pytestmark = pytest.mark.docker

NOXFILE = """\
import os
import sys

import nox

from iris_envs.nox import iris_session


@iris_session(python=False, tags=["nox"])
def tests(session, iris):
    \"\"\"Check the connection variables inside the session.\"\"\"
    code = (
        "import os, socket, sys; "
        "h, p = os.environ['IRIS_HOST'], int(os.environ['IRIS_PORT']); "
        "s = socket.create_connection((h, p), 5); "
        "assert s.makefile().readline().startswith('IRIS-STANDIN'); "
        "e = os.environ; "
        "print('ENV=' + e['IRIS_ENVS_ENV'] + ' CONTAINER=' + e['IRIS_ENVS_CONTAINER'])"
    )
    session.run(sys.executable, "-c", code, env=iris.environment, external=True)
    if iris.name.endswith("-fails"):
        session.error("this environment's session fails on purpose")
"""


def test_a_real_nox_run_over_two_environments_leaves_no_container(
    make_project: MakeProject, standin_images: dict[str, str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    ok, fails = f"nox-{tag}", f"nox-{tag}-fails"
    root = make_project(
        "".join(
            f'[env."{name}"]\nimage = "{standin_images[version]}"\npassword = "Pw-{tag}"\n'
            'tags = ["nox"]\n'
            for name, version in ((ok, "2024.1"), (fails, "2025.1"))
        ),
        {"noxfile.py": NOXFILE},
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nox", "-f", str(root / "noxfile.py")],
            cwd=root,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 1, output  # one session fails on purpose
        assert f"ENV={ok} CONTAINER=" in output and f"ENV={fails} CONTAINER=" in output
        assert f"tests({ok})" in output or f"tests(iris_env='{ok}')" in output, output
        assert f"Pw-{tag}" not in output
        for env in (ok, fails):  # removed after the body, also after the failing one
            assert docker("ps", "-aq", "--filter", f"label=org.iris-envs.env={env}").stdout == ""
    finally:
        remove_env_artifacts(ok)
        remove_env_artifacts(fails)
