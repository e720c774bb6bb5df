"""A pristine namespace per test (issue 25) on a real IRIS image (IRIS_ENVS_TEST_IMAGE): a table
and a global made by one test are gone in the next, while the fixture's rows and the loaded
class are there in every clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.test_config_model_real_iris import envs, make_fixture, project

pytestmark = [pytest.mark.docker, pytest.mark.real_iris]

__all__ = ["envs"]  # the fixture, imported for the tests below

THING = """Class App.Thing
{

ClassMethod Answer() As %Integer
{
    Quit 42
}

}
"""

MODULE = """
def test_one_makes_a_table_and_a_global(iris_fresh):
    out = iris_fresh.run_objectscript([
        'Set r=##class(%SQL.Statement).%ExecDirect(,"CREATE TABLE Temp.Made (N INT)")',
        'Write "SQLCODE=",r.%SQLCODE,!',
        'Set ^Iso("x")="written" Write "SET",!',
    ])
    assert "SQLCODE=0" in out and "SET" in out, out


def test_two_sees_neither_but_the_fixture_and_the_class(iris_fresh):
    out = iris_fresh.run_objectscript([
        'Set q="SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES"',
        'Set q=q_" WHERE TABLE_SCHEMA=? AND TABLE_NAME=?"',
        'Set r=##class(%SQL.Statement).%ExecDirect(,q,"Temp","Made") Do r.%Next()',
        'Write "MADE=",r.%GetData(1),!',
        'Write "GLOBAL=",$Data(^Iso),!',
        'Set r=##class(%SQL.Statement).%ExecDirect(,"SELECT COUNT(*) FROM Real.Orders")',
        'Do r.%Next() Write "ROWS=",r.%GetData(1),!',
        'Write "ANSWER=",##class(App.Thing).Answer(),!',
    ])
    for expected in ("MADE=0", "GLOBAL=0", "ROWS=3", "ANSWER=42"):
        assert expected in out, out
"""


def test_a_clone_per_test_on_real_iris(tmp_path: Path, envs: list[str]) -> None:
    fixture_dir = tmp_path / "made-orders"
    make_fixture(tmp_path, envs, "Real.Orders", 3, fixture_dir)
    env = f"real-iso-{uuid.uuid4().hex[:6]}"
    envs.append(env)
    root = project(
        tmp_path / env,
        env,
        'namespace = "APP"\nsetup = [{ dat = "orders" }, { load = "src" }]\n',
        {"src/App/Thing.cls": THING, "tests/test_iso.py": MODULE},
    )
    shutil.copytree(fixture_dir, root / "orders")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--iris-env", env],
        cwd=root,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
