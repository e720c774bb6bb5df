"""Fixtures on a real IRIS image (IRIS_ENVS_TEST_IMAGE): rows survive create -> restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import remove_env_artifacts

pytestmark = [pytest.mark.docker, pytest.mark.real_iris]


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iris_envs", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def test_a_fixture_of_a_table_with_rows_restores_into_another_environment(
    tmp_path: Path, docker_engine_available: bool
) -> None:
    image = os.environ["IRIS_ENVS_TEST_IMAGE"]
    source, target = f"real-fxs-{uuid.uuid4().hex[:6]}", f"real-fxt-{uuid.uuid4().hex[:6]}"
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sql").mkdir(parents=True)
    (src / "sql" / "schema.sql").write_text(
        "CREATE TABLE Demo.Item (Name VARCHAR(50))\nGO\n"
        "INSERT INTO Demo.Item (Name) VALUES ('a')\nGO\n"
        "INSERT INTO Demo.Item (Name) VALUES ('b')\nGO\n"
        "INSERT INTO Demo.Item (Name) VALUES ('c')\nGO\n"
    )
    (src / "iris-envs.toml").write_text(
        f'[env.{source}]\nimage = "{image}"\nnamespace = "APP"\nready_timeout = 600\n'
        'setup = [{ sql = "sql/schema.sql" }]\n'
    )
    (dst / "tests").mkdir(parents=True)
    (dst / "iris-envs.toml").write_text(
        f'[env.{target}]\nimage = "{image}"\npassword = "Real-Test-pw1"\nready_timeout = 600\n'
        'setup = [{ dat = "fixtures/app", database = "APPCOPY" }]\n'
    )
    (dst / "tests" / "test_rows.py").write_text(
        textwrap.dedent(
            """
            import os
            import iris

            def test_rows_from_the_fixture():
                conn = iris.connect(
                    os.environ["IRIS_HOST"], int(os.environ["IRIS_PORT"]),
                    os.environ["IRIS_NAMESPACE"], os.environ["IRIS_USERNAME"],
                    os.environ["IRIS_PASSWORD"], sharedmemory=False,
                )
                cursor = conn.cursor()
                cursor.execute("SELECT Name FROM Demo.Item ORDER BY Name")
                assert [row[0] for row in cursor.fetchall()] == ["a", "b", "c"]
            """
        )
    )
    try:
        up = cli(src, "up", source)
        assert up.returncode == 0, up.stderr
        try:
            made = cli(src, "fixture", "create", "--env", source, "-o", str(dst / "fixtures/app"))
            assert made.returncode == 0, made.stderr
        finally:
            cli(src, "down", source)
        manifest = json.loads((dst / "fixtures/app/manifest.json").read_text())
        assert {"name": "Demo.Item", "row_count": 3} in manifest["tables"]
        assert manifest["source_namespace"] == "APP"
        assert cli(dst, "fixture", "validate", "fixtures/app").returncode == 0
        done = cli(dst, "run", "-e", target, "--", sys.executable, "-m", "pytest", "-q", "tests")
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        for env in (source, target):
            remove_env_artifacts(env)
