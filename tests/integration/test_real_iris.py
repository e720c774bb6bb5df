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
    (tmp_path / "sql" / "schema.sql").write_text(
        "CREATE TABLE Demo.Item (Name VARCHAR(50))\n"
        "INSERT INTO Demo.Item (Name) VALUES ('a')\n"
        "INSERT INTO Demo.Item (Name) VALUES ('b')\n"
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
