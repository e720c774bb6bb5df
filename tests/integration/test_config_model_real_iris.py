"""IRIS's configuration model on a real IRIS image (IRIS_ENVS_TEST_IMAGE), issue 24 items 1-3 and 7:
the CPF merge lands in /usr/irissys/iris.cpf, two fixtures and loaded code are all visible in one
namespace, and a namespace with separate code and data databases is refused by fixture create."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import remove_env_artifacts, snapshot_repo

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


@pytest.fixture
def envs() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for env in names:
        remove_env_artifacts(env)


def project(root: Path, env: str, body: str, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    image = os.environ["IRIS_ENVS_TEST_IMAGE"]
    (root / "iris-envs.toml").write_text(
        f'[env.{env}]\nimage = "{image}"\nready_timeout = 600\n{body}'
    )
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def make_fixture(tmp: Path, envs: list[str], table: str, rows: int, out: Path) -> None:
    """A fixture of namespace APP holding one table with ``rows`` rows, made by fixture create."""
    env = f"real-src-{uuid.uuid4().hex[:6]}"
    envs.append(env)
    inserts = "".join(f"INSERT INTO {table} (Name) VALUES ('r{i}')\nGO\n" for i in range(rows))
    src = project(
        tmp / env,
        env,
        'namespace = "APP"\nsetup = [{ sql = "schema.sql" }]\n',
        {"schema.sql": f"CREATE TABLE {table} (Name VARCHAR(50))\nGO\n{inserts}"},
    )
    up = cli(src, "up", env)
    assert up.returncode == 0, up.stderr
    try:
        made = cli(src, "fixture", "create", "--env", env, "-o", str(out))
        assert made.returncode == 0, made.stderr
    finally:
        cli(src, "down", env)
    # Item 7: the documented NOT (col %STARTSWITH 'x') lists the table, with its rows.
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"name": table, "row_count": rows} in manifest["tables"], manifest


def test_cpf_merge_lands_in_the_installation_directory_cpf(
    tmp_path: Path, envs: list[str], docker_engine_available: bool
) -> None:
    env = f"real-cpf-{uuid.uuid4().hex[:6]}"
    envs.append(env)
    merge = (
        "[Actions]\nCreateDatabase:Name=EXTRA,Directory=/usr/irissys/mgr/extra\n"
        "[SQL]\nDefaultSchema=MergedSchema\n"
    )
    root = project(tmp_path / "p", env, 'cpf_merge = "merge.cpf"\n', {"merge.cpf": merge})
    built = cli(root, "build", "-e", env)
    assert built.returncode == 0, built.stderr
    cpf = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--entrypoint",
            "cat",
            f"{snapshot_repo(env, root)}:latest",
            "/usr/irissys/iris.cpf",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DefaultSchema=MergedSchema" in cpf
    assert "EXTRA=/usr/irissys/mgr/extra/" in cpf


def test_two_fixtures_and_loaded_code_on_real_iris(
    tmp_path: Path, envs: list[str], docker_engine_available: bool
) -> None:
    target = f"real-two-{uuid.uuid4().hex[:6]}"
    envs.append(target)
    dst = tmp_path / "dst"
    make_fixture(tmp_path, envs, "Demo.Orders", 3, dst / "fixtures" / "orders")
    make_fixture(tmp_path, envs, "Shop.Customer", 5, dst / "fixtures" / "customers")
    test = textwrap.dedent(
        """
        import os
        import iris

        def test_everything_is_visible():
            conn = iris.connect(
                os.environ["IRIS_HOST"], int(os.environ["IRIS_PORT"]),
                os.environ["IRIS_NAMESPACE"], os.environ["IRIS_USERNAME"],
                os.environ["IRIS_PASSWORD"], sharedmemory=False,
            )
            cursor = conn.cursor()
            cursor.execute("SELECT COUNT(*) FROM Demo.Orders")
            assert cursor.fetchone()[0] == 3
            cursor.execute("SELECT COUNT(*) FROM Shop.Customer")
            assert cursor.fetchone()[0] == 5
            cursor.execute("SELECT COUNT(*) FROM %Dictionary.ClassDefinition WHERE Name = ?",
                           ["App.Thing"])
            assert cursor.fetchone()[0] == 1
        """
    )
    project(
        dst,
        target,
        'namespace = "APP"\npassword = "Real-Test-pw1"\nsetup = [\n'
        '  { dat = "fixtures/orders" },\n  { load = "src" },\n'
        '  { dat = "fixtures/customers" },\n]\n',
        {
            "src/App/Thing.cls": "Class App.Thing Extends %Persistent\n{\n}\n",
            "tests/test_x.py": test,
        },
    )
    done = cli(dst, "run", "-e", target, "--", sys.executable, "-m", "pytest", "-q", "tests")
    assert done.returncode == 0, done.stdout + done.stderr


def test_fixture_create_refuses_a_create_database_namespace(
    tmp_path: Path, envs: list[str], docker_engine_available: bool
) -> None:
    # SQL CREATE DATABASE makes a namespace with a code (C) and a data (D) database.
    env = f"real-split-{uuid.uuid4().hex[:6]}"
    envs.append(env)
    root = project(
        tmp_path / "p",
        env,
        'setup = [{ sql = "db.sql" }]\n',
        {"db.sql": "CREATE DATABASE SPLITDB\nGO\n"},
    )
    up = cli(root, "up", env)
    assert up.returncode == 0, up.stderr
    try:
        made = cli(root, "fixture", "create", "--env", env, "--namespace", "SPLITDB", "-o", "fx")
    finally:
        cli(root, "down", env)
    assert made.returncode == 2, made.stderr
    assert "--database" in made.stderr and "Traceback" not in made.stderr
    assert not (root / "fx").exists()
