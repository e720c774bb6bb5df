"""Tests that need a real InterSystems IRIS image (IRIS_ENVS_TEST_IMAGE): SQL, DB-API, logins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.real_iris]


@pytest.fixture
def real_project(tmp_path: Path, docker_engine_available: bool) -> Iterator[tuple[Path, str]]:
    """A project on the real image: a namespace, a DDL fixture with rows, a DB-API test."""
    env = f"real-{uuid.uuid4().hex[:8]}"
    image = os.environ["IRIS_ENVS_TEST_IMAGE"]
    (tmp_path / "sql").mkdir()
    # ImportDDL's IRIS dialect: each statement followed by a line holding only GO (SQL guide).
    (tmp_path / "sql" / "schema.sql").write_text(
        "CREATE TABLE Demo.Item (Name VARCHAR(50))\nGO\n"
        "INSERT INTO Demo.Item (Name) VALUES ('a')\nGO\n"
        "INSERT INTO Demo.Item (Name) VALUES ('b')\nGO\n"
    )
    (tmp_path / "iris-envs.toml").write_text(
        textwrap.dedent(
            f"""
            [env.{env}]
            image = "{image}"
            namespace = "APP"
            password = "Real-Test-pw1"
            ready_timeout = 600
            setup = [{{ sql = "sql/schema.sql" }}]
            """
        )
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_sql.py").write_text(
        textwrap.dedent(
            """
            import os
            import iris

            def test_rows_loaded_by_the_fixture():
                conn = iris.connect(
                    os.environ["IRIS_HOST"], int(os.environ["IRIS_PORT"]),
                    os.environ["IRIS_NAMESPACE"], os.environ["IRIS_USERNAME"],
                    os.environ["IRIS_PASSWORD"], sharedmemory=False,
                )
                cursor = conn.cursor()
                cursor.execute("SELECT COUNT(*) FROM Demo.Item")
                assert cursor.fetchone()[0] == 2
            """
        )
    )
    yield tmp_path, env
    subprocess.run(
        f"docker rmi -f $(docker images -q iris-envs/{env}) 2>/dev/null",
        shell=True,
        check=False,
        capture_output=True,
    )


def test_snapshot_of_a_real_image_serves_sql_fixtures_over_dbapi(
    real_project: tuple[Path, str],
) -> None:
    pytest.importorskip("iris", reason="pip install intersystems-irispython (extra real-iris)")
    project, env = real_project
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "iris_envs",
            "run",
            "-e",
            env,
            "--",
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "Real-Test-pw1" not in done.stdout + done.stderr


def _build_on_real_iris(tmp_path: Path, setup: str, files: dict[str, str]) -> tuple[str, str]:
    """Build a one-environment project on the real image; return (env, stderr) after cleanup."""
    env = f"real-{uuid.uuid4().hex[:8]}"
    image = os.environ["IRIS_ENVS_TEST_IMAGE"]
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    (tmp_path / "iris-envs.toml").write_text(
        f'[env.{env}]\nimage = "{image}"\nnamespace = "APP"\nready_timeout = 600\n'
        f"setup = [{setup}]\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "iris_envs", "build", "-e", env],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    finally:
        subprocess.run(
            f"docker rmi -f $(docker images -q iris-envs/{env}) 2>/dev/null",
            shell=True,
            check=False,
            capture_output=True,
        )
    assert "Traceback" not in done.stderr
    return str(done.returncode), done.stderr


def test_sql_step_errors_fail_the_build_on_real_iris(
    tmp_path: Path, docker_engine_available: bool
) -> None:
    # A statement ImportDDL cannot run is only reported in its errors log (SQL guide).
    code, stderr = _build_on_real_iris(
        tmp_path,
        '{ sql = "bad.sql" }',
        {"bad.sql": "CREATE TABLE Demo.Ok (Name VARCHAR(5))\nGO\nTHIS IS NOT SQL\nGO\n"},
    )
    assert code == "5", stderr
    assert "errors log" in stderr


def test_ipm_step_without_ipm_is_explained_on_real_iris(
    tmp_path: Path, docker_engine_available: bool
) -> None:
    # containers.intersystems.com images ship no IPM, and IPM 0.9+ is never in a new namespace.
    if "intersystemsdc/" in os.environ["IRIS_ENVS_TEST_IMAGE"]:
        pytest.skip("intersystemsdc images may map an older ZPM into every namespace")
    code, stderr = _build_on_real_iris(tmp_path, '{ ipm = "sslclient" }', {})
    assert code == "5", stderr
    assert "IPM is not installed in namespace APP" in stderr


def test_the_pytest_fixtures_connect_to_real_iris(
    tmp_path: Path, docker_engine_available: bool
) -> None:
    # iris_connection goes through iris_envs.connect (DB-API, past first-login expiry).
    env = f"real-{uuid.uuid4().hex[:8]}"
    image = os.environ["IRIS_ENVS_TEST_IMAGE"]
    (tmp_path / "iris-envs.toml").write_text(
        f'[env.{env}]\nimage = "{image}"\nready_timeout = 600\n'
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_fixtures.py").write_text(
        "def test_select(iris_cursor):\n"
        "    iris_cursor.execute('SELECT 1+1')\n"
        "    assert iris_cursor.fetchone()[0] == 2\n\n"
        "def test_version(iris_env):\n"
        "    assert iris_env.port > 0 and iris_env.namespace == 'USER'\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--iris-env", env],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 passed" in done.stdout
    finally:
        subprocess.run(
            f"docker rmi -f $(docker images -q iris-envs/{env}) 2>/dev/null",
            shell=True,
            check=False,
            capture_output=True,
        )


def test_a_dat_step_restores_a_real_database_readable_in_the_new_snapshot(
    tmp_path: Path, docker_engine_available: bool
) -> None:
    # A real IRIS.DAT taken from a cleanly stopped snapshot (consistent: iris-facts.md), copied
    # into another environment by a dat step: owned by irisowner, added, mounted, readable.
    image = os.environ["IRIS_ENVS_TEST_IMAGE"]
    source, target = f"real-src-{uuid.uuid4().hex[:6]}", f"real-dat-{uuid.uuid4().hex[:6]}"
    (tmp_path / "set.script").write_text('Set ^IrisEnvsDat("k")="from-the-fixture"\n')
    (tmp_path / "iris-envs.toml").write_text(
        f'[env.{source}]\nimage = "{image}"\nready_timeout = 600\n'
        'setup = [{ objectscript = "set.script" }]\n'
        f'[env.{target}]\nimage = "{image}"\nready_timeout = 600\n'
        'setup = [{ dat = "fixture/usercopy", database = "USERCOPY" }]\n'
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_dat.py").write_text(
        "def test_global_from_the_fixture(iris_env):\n"
        "    out = iris_env.run_objectscript(\n"
        '        [\'Write ^["^^/usr/irissys/mgr/usercopy/"]IrisEnvsDat("k")\'],\n'
        "        namespace='%SYS',\n"
        "    )\n"
        "    assert 'from-the-fixture' in out\n"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "iris_envs", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )

    try:
        built = cli("build", "-e", source)
        assert built.returncode == 0, built.stderr
        fixture = tmp_path / "fixture" / "usercopy"
        fixture.mkdir(parents=True)
        holder = subprocess.run(
            ["docker", "create", f"iris-envs/{source}:latest"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        try:
            subprocess.run(
                ["docker", "cp", f"{holder}:/usr/irissys/mgr/user/IRIS.DAT", str(fixture)],
                check=True,
                capture_output=True,
            )
        finally:
            subprocess.run(["docker", "rm", "-f", holder], capture_output=True, check=False)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--iris-env", target],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        for env in (source, target):
            subprocess.run(
                f"docker rmi -f $(docker images -q iris-envs/{env}) 2>/dev/null",
                shell=True,
                check=False,
                capture_output=True,
            )
