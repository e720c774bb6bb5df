"""IRIS's configuration model on the real engine (issue 24): fixtures and loaded code reach their
namespace by mappings, so every fixture's tables and every loaded class stay visible whatever the
order of the steps; conflicts and split code/data namespaces are refused with a clear message.

The stand-in keeps a database's content as records in its IRIS.DAT (tests/standin/README.md):
`STANDIN-CLASS <class> [<data global>]` and `STANDIN-ROWS <global> <n>`; a namespace sees a
table only while its class and its data global are both reachable.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import (
    MakeProject,
    docker,
    remove_env_artifacts,
    run_cli,
    unique_env,
)
from tests.integration.test_fidelity import snapshot_of, start_snapshot

pytestmark = pytest.mark.docker

VERSION = "2025.1"
ORDERS = b"STANDIN-CLASS Demo.Orders Demo.OrdersD\nSTANDIN-ROWS Demo.OrdersD 3\n"
# A DDL table's data global has a hashed name (DDLUseExtentSet): nothing derives it from the name.
CUSTOMERS = b"STANDIN-CLASS Shop.Customer XQk3a.Lp9.1\nSTANDIN-ROWS XQk3a.Lp9.1 5\n"
THING = "Class App.Thing Extends %Persistent\n{\n}\n"
STEPS = {
    "orders": '  { dat = "fixtures/orders" },\n',
    "customers": '  { dat = "fixtures/customers" },\n',
    "load": '  { load = "src" },\n',
}


def fixture(folder: str, data: bytes, tables: list[dict[str, Any]]) -> dict[str, str | bytes]:
    """A fixture folder (IRIS.DAT and a manifest listing its tables) for make_project."""
    manifest = {
        "schema_version": 1,
        "fixture_id": folder.rsplit("/", 1)[-1],
        "version": "1",
        "description": "",
        "created_at": "2026-12-04T00:00:00Z",
        "iris_version": "2024.1",
        "source_namespace": "APP",
        "source_database": "APP",
        "files": [
            {
                "path": "IRIS.DAT",
                "size": len(data),
                "sha256": "sha256:" + hashlib.sha256(data).hexdigest(),
            }
        ],
        "tables": tables,
        "features": {},
    }
    return {f"{folder}/IRIS.DAT": data, f"{folder}/manifest.json": json.dumps(manifest)}


FILES: dict[str, str | bytes] = {
    **fixture("fixtures/orders", ORDERS, [{"name": "Demo.Orders", "row_count": 3}]),
    **fixture("fixtures/customers", CUSTOMERS, [{"name": "Shop.Customer", "row_count": 5}]),
    "src/App/Thing.cls": THING,
}


@pytest.fixture
def build(make_project: MakeProject, standin_images: dict[str, str]) -> Iterator[Any]:
    envs: list[str] = []

    def run(
        setup: str, files: Mapping[str, str | bytes] = FILES, namespace: str = "APP"
    ) -> tuple[str, subprocess.CompletedProcess[str]]:
        env = unique_env("cm")
        envs.append(env)
        toml = (
            f'[env."{env}"]\nimage = "{standin_images[VERSION]}"\nnamespace = "{namespace}"\n'
            f'password = "Pw{uuid.uuid4().hex}"\nsetup = [\n{setup}]\n'
        )
        root = make_project(toml, dict(files), name=env)
        return env, run_cli(["build", "-e", env], cwd=root, timeout=240)

    yield run
    for env in envs:
        remove_env_artifacts(env)


def session(container: str, script: str, namespace: str) -> str:
    command = ["docker", "exec", "-i", "-u", "irisowner", container, "iris", "session", "IRIS"]
    done = subprocess.run(
        [*command, "-U", namespace],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def what_the_namespace_sees(ref: str, namespace: str = "APP") -> str:
    """Row counts of both fixtures' tables and whether App.Thing exists, in a container of the
    snapshot (its own start, so nothing of the build is left in memory)."""
    name = start_snapshot(ref)
    try:
        count = (
            'Set c=##class(%SQL.Statement).%ExecDirect(,"SELECT COUNT(*) FROM {0}") '
            'If c.%SQLCODE<0 {{ Write !,"{0}=ERR",c.%SQLCODE,! }} '
            'Else {{ Do c.%Next() Write !,"{0}=",c.%GetData(1),! }}\n'
        )
        script = count.format("Demo.Orders") + count.format("Shop.Customer")
        script += (
            'Write !,"App.Thing=",##class(%Dictionary.ClassDefinition).%ExistsId("App.Thing"),!\n'
        )
        return session(name, script, namespace)
    finally:
        docker("rm", "-f", name, check=False)


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["orders", "customers", "load"])), ids="-".join
)
def test_two_fixtures_and_loaded_code_are_all_visible_in_any_step_order(
    build: Any, order: tuple[str, ...]
) -> None:
    # Before: each `dat` step repointed the namespace's globals AND routines database at its own
    # database, so only the last fixture was visible and the loaded class vanished whenever a
    # fixture came after the load step (every row check passed, right after its own step).
    env, done = build("".join(STEPS[name] for name in order))
    assert done.returncode == 0, done.stderr
    seen = what_the_namespace_sees(snapshot_of(done, env))
    assert "Demo.Orders=3" in seen and "Shop.Customer=5" in seen, seen
    assert "App.Thing=1" in seen, seen
    # Mapped, never repointed: the namespace keeps its own database.
    cpf = docker(
        "run", "--rm", "--entrypoint", "cat", snapshot_of(done, env), "/usr/irissys/iris.cpf"
    ).stdout
    assert "APP=APP\n" in cpf and "Global_Demo.OrdersD=ORDERS" in cpf, cpf
    assert "Global_XQk3a.Lp9.1=CUSTOMERS" in cpf and "Package_Shop=CUSTOMERS" in cpf, cpf


def test_two_fixtures_holding_the_same_global_are_refused_naming_it(build: Any) -> None:
    files = {**FILES, **fixture("fixtures/orders2", ORDERS, [])}
    _env, done = build(STEPS["orders"] + '  { dat = "fixtures/orders2" },\n', files)
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "^Demo.OrdersD is already mapped to database ORDERS" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_fixture_that_would_hide_data_an_earlier_step_wrote_is_refused(build: Any) -> None:
    files = {**FILES, "setup/rows.script": 'Set ^Demo.OrdersD(1)="local"\n'}
    setup = '  { objectscript = "setup/rows.script", namespace = "APP" },\n' + STEPS["orders"]
    _env, done = build(setup, files)
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "^Demo.OrdersD already holds data in the namespace's own database APP" in done.stderr


def test_a_later_step_that_changes_a_fixture_fails_the_build(build: Any) -> None:
    # The rows are counted once every step has run, not right after the fixture's own step: a
    # later step that empties the table (through the mapping, in the fixture's database) fails.
    files = {**FILES, "setup/wipe.script": "Kill ^Demo.OrdersD\n"}
    setup = STEPS["orders"] + '  { objectscript = "setup/wipe.script", namespace = "APP" },\n'
    _env, done = build(setup, files)
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "Demo.Orders: 0 rows, the manifest says 3" in done.stderr, done.stderr
    assert "nothing was committed" in done.stderr


def test_a_loaded_class_hidden_by_a_later_step_fails_the_build(build: Any) -> None:
    repoint = (
        'Set n("Globals")="ORDERS",n("Routines")="ORDERS"\n'
        'Set sc=##class(Config.Namespaces).Modify("APP",.n)\n'
    )
    files = {**FILES, "setup/repoint.script": repoint}
    setup = STEPS["load"] + STEPS["orders"] + '  { objectscript = "setup/repoint.script" },\n'
    _env, done = build(setup, files)
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "App.Thing (namespace APP)" in done.stderr, done.stderr


def test_fixture_create_refuses_a_namespace_with_separate_code_and_data_databases(
    make_project: MakeProject, standin_images: dict[str, str]
) -> None:
    # SQL CREATE DATABASE and %Installer templates give a namespace a code database apart from
    # its data (RSQL_createdatabase): copying the globals database alone leaves the classes out.
    env = unique_env("cm")
    split = (
        'Set p("Directory")="/usr/irissys/mgr/appcode/"\n'
        'Do ##class(SYS.Database).CreateDatabase("/usr/irissys/mgr/appcode/")\n'
        'Set sc=##class(Config.Databases).Create("APPCODE",.p)\n'
        'Set n("Globals")="APP",n("Routines")="APPCODE"\n'
        'Set sc=##class(Config.Namespaces).Modify("APP",.n)\n'
    )
    toml = (
        f'[env."{env}"]\nimage = "{standin_images[VERSION]}"\nnamespace = "APP"\n'
        f'password = "Pw{uuid.uuid4().hex}"\n'
        'setup = [{ objectscript = "setup/split.script" }]\n'
    )
    root = make_project(toml, {"setup/split.script": split}, name=env)
    try:
        up = run_cli(["up", "-e", env], cwd=root, timeout=240)
        assert up.returncode == 0, up.stderr
        made = run_cli(
            ["fixture", "create", "--env", env, "--namespace", "APP", "-o", "fixtures/app"],
            cwd=root,
            timeout=120,
        )
        assert made.returncode == int(ExitCode.CONFIG_ERROR), made.stderr
        assert "APPCODE" in made.stderr and "APP" in made.stderr and "--database" in made.stderr
        assert "Traceback" not in made.stderr
        assert not (root / "fixtures/app").exists()
    finally:
        run_cli(["down", "-e", env], cwd=root, timeout=120)
        remove_env_artifacts(env)


def test_fixture_create_records_the_namespaces_tables_with_their_rows(
    make_project: MakeProject, standin_images: dict[str, str]
) -> None:
    # The row count query used `TABLE_SCHEMA NOT %STARTSWITH '%'`, which is not the documented
    # negation (RSQL_startswith: NOT col %STARTSWITH 'x'): the manifest listed no table at all.
    env = unique_env("cm")
    ddl = "CREATE TABLE Shop.Item (Name VARCHAR(20))\nGO\n" + "".join(
        f"INSERT INTO Shop.Item (Name) VALUES ('{name}')\nGO\n" for name in "ab"
    )
    toml = (
        f'[env."{env}"]\nimage = "{standin_images[VERSION]}"\nnamespace = "APP"\n'
        f'password = "Pw{uuid.uuid4().hex}"\nsetup = [{{ sql = "schema.sql" }}]\n'
    )
    root = make_project(toml, {"schema.sql": ddl}, name=env)
    try:
        assert run_cli(["up", "-e", env], cwd=root, timeout=240).returncode == 0
        for method in ("dismount", "freeze"):
            made = run_cli(
                [
                    "fixture",
                    "create",
                    "--env",
                    env,
                    "--namespace",
                    "APP",
                    "--method",
                    method,
                    "-o",
                    f"fixtures/{method}",
                ],
                cwd=root,
                timeout=120,
            )
            assert made.returncode == 0, made.stderr
            manifest = json.loads((root / f"fixtures/{method}/manifest.json").read_text())
            assert manifest["tables"] == [{"name": "Shop.Item", "row_count": 2}], manifest
    finally:
        run_cli(["down", "-e", env], cwd=root, timeout=120)
        remove_env_artifacts(env)


def test_a_restored_fixture_keeps_its_rows_in_a_fresh_namespace_of_another_project(
    build: Any,
) -> None:
    # Into USER (a namespace of the instance itself): mapped there too, nothing repointed.
    env, done = build(STEPS["customers"] + STEPS["orders"], namespace="USER")
    assert done.returncode == 0, done.stderr
    seen = what_the_namespace_sees(snapshot_of(done, env), "USER")
    assert "Demo.Orders=3" in seen and "Shop.Customer=5" in seen, seen
