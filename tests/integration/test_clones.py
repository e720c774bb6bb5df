"""Clone namespaces on the real engine (issue 25): a pristine copy of an environment's namespace
per claim, ready in a pool, never sharing a writable database with another clone."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from iris_envs.engine.adapter import DockerEngine
from iris_envs.instance.objectscript import run_session
from iris_envs.run.clone_pool import ClonePool
from tests.integration.conftest import (
    docker,
    remove_env_artifacts,
    run_cli,
    unique_env,
)
from tests.integration.test_config_model import FILES, fixture

pytestmark = pytest.mark.docker

VERSION = "2025.1"
ORDERS = b"STANDIN-CLASS Demo.Orders Demo.OrdersD\nSTANDIN-ROWS Demo.OrdersD 3\n"


@pytest.fixture(scope="module")
def up(
    tmp_path_factory: pytest.TempPathFactory, standin_images: dict[str, str]
) -> Iterator[tuple[str, Path]]:
    """An `up` container of an environment with namespace APP: a loaded class, and a fixture
    (mapped in) whose table has 3 rows."""
    from tests.integration.conftest import write_project

    env = unique_env("cl")
    root = tmp_path_factory.mktemp("clones")
    toml = (
        f'[env."{env}"]\nimage = "{standin_images[VERSION]}"\nnamespace = "APP"\n'
        f'password = "Pw{uuid.uuid4().hex}"\n'
        'setup = [{ load = "src" }, { dat = "fixtures/orders" }]\n'
    )
    files = {
        "src/App/Thing.cls": FILES["src/App/Thing.cls"],
        **fixture("fixtures/orders", ORDERS, [{"name": "Demo.Orders", "row_count": 3}]),
    }
    write_project(root, toml, files)
    started = run_cli(["up", env], cwd=root, timeout=300)
    assert started.returncode == 0, started.stderr
    container = docker(
        "ps",
        "-q",
        "--filter",
        f"label=org.iris-envs.env={env}",
        "--filter",
        "label=org.iris-envs.role=up",
    ).stdout.strip()
    assert container
    yield container, root
    run_cli(["down", env], cwd=root, timeout=120)
    remove_env_artifacts(env)


def script(container: str, namespace: str, lines: list[str]) -> str:
    return run_session(DockerEngine(), container, lines, namespace=namespace).output


def read_and_write(container: str, namespace: str, value: str) -> str:
    """What ^Iso("x") held at the start, then write ``value`` there and add a row."""
    return script(
        container,
        namespace,
        [
            'Write !,"BEFORE=",$Get(^Iso("x")),!',
            f'Set ^Iso("x")="{value}"',
            'Set c=##class(%SQL.Statement).%ExecDirect(,"SELECT COUNT(*) FROM Demo.Orders") '
            'Do c.%Next() Write !,"ROWS=",c.%GetData(1),!',
            "Set ^Demo.OrdersD(99)=1",
            'Write !,"THING=",##class(%Dictionary.ClassDefinition).%ExistsId("App.Thing"),!',
        ],
    )


def test_every_claim_sees_the_snapshot_and_never_another_clones_writes(
    up: tuple[str, Path],
) -> None:
    container, _root = up
    pool = ClonePool(container, "APP", size=2).start()
    try:
        seen = []
        for round_number in range(5):
            with pool.fresh() as clone:
                assert clone.namespace.startswith("APP_C")
                out = read_and_write(container, clone.namespace, f"dirty-{round_number}")
                seen.append(out)
        for out in seen:
            # Each claim starts from the snapshot: no earlier write, the fixture's rows, the
            # loaded class callable.
            assert "BEFORE=\n" in out or "BEFORE=" in out.split("dirty")[0], out
            assert "BEFORE=dirty" not in out, out
            assert "ROWS=3" in out and "THING=1" in out, out
        # The environment's own namespace never saw a clone's writes.
        own = script(container, "APP", ['Write !,"OWN=",$Get(^Iso("x")),!'])
        assert "OWN=\n" in own or own.strip().splitlines()[-1].strip() == "OWN="
    finally:
        pool.close()


def test_a_write_to_any_one_database_of_a_clone_is_gone_at_its_next_claim(
    up: tuple[str, Path],
) -> None:
    # A reset copies only the databases written since their last copy: each one must be found.
    container, _root = up
    pool = ClonePool(container, "APP", size=1).start()
    probe = 'Write !,"FIX=",$Data(^Demo.OrdersD(99))," OWN=",$Data(^Iso("y")),!'
    try:
        with pool.fresh() as clone:
            script(container, clone.namespace, ["Set ^Demo.OrdersD(99)=1"])  # the fixture's
        with pool.fresh() as again:
            assert again.namespace == clone.namespace
            out = script(container, again.namespace, [probe, 'Set ^Iso("y")=1'])  # its own
            assert "FIX=0 OWN=0" in out, out
        with pool.fresh() as third:
            out = script(container, third.namespace, [probe])
            assert "FIX=0 OWN=0" in out, out
    finally:
        pool.close()


def test_two_clones_claimed_at_once_do_not_share_a_database(up: tuple[str, Path]) -> None:
    container, _root = up
    pool = ClonePool(container, "APP", size=2).start()
    try:
        first, second = pool.claim(), pool.claim()
        assert first.namespace != second.namespace
        barrier = threading.Barrier(2)
        outputs: dict[str, str] = {}

        def write(clone: Any, value: str) -> None:
            barrier.wait()
            outputs[value] = read_and_write(container, clone.namespace, value)

        threads = [
            threading.Thread(target=write, args=(first, "one")),
            threading.Thread(target=write, args=(second, "two")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert "BEFORE=one" not in outputs["two"] and "BEFORE=two" not in outputs["one"]
        check = ['Write !,"NOW=",$Get(^Iso("x")),!']
        assert "NOW=one" in script(container, first.namespace, check)
        assert "NOW=two" in script(container, second.namespace, check)
        cpf = docker("exec", container, "cat", "/usr/irissys/iris.cpf").stdout
        # Separate copies of every database APP writes: its own and the mapped fixture's.
        assert f"{first.namespace}=APP_C{first.number}" in cpf
        assert f"Global_Demo.OrdersD=ORDERS_C{first.number}" in cpf
        pool.release(first)
        pool.release(second)
    finally:
        pool.close()


def test_the_pristine_copies_are_never_mounted(up: tuple[str, Path]) -> None:
    container, _root = up
    pool = ClonePool(container, "APP", size=1).start()
    try:
        with pool.fresh():
            pass
        cpf = docker("exec", container, "cat", "/usr/irissys/iris.cpf").stdout
        assert "iris-envs-clones/pristine" not in cpf
        mounted = docker(
            "exec",
            container,
            "sh",
            "-c",
            "cat /usr/irissys/mgr/.standin/mount/* 2>/dev/null | sed -n 's/^mounted //p'",
        ).stdout
        assert "pristine" not in mounted
    finally:
        pool.close()


def test_a_kept_clone_stays_as_it_is_and_the_pool_refills(up: tuple[str, Path]) -> None:
    container, _root = up
    pool = ClonePool(container, "APP", size=1).start()
    try:
        clone = pool.claim()
        script(container, clone.namespace, ['Set ^Iso("kept")="yes"'])
        pool.release(clone, keep=True)
        other = pool.claim()
        assert other.namespace != clone.namespace
        assert "K=yes" in script(container, clone.namespace, ['Write !,"K=",$Get(^Iso("kept")),!'])
        assert (
            "K=\n"
            in script(container, other.namespace, ['Write !,"K=",$Get(^Iso("kept")),!']) + "\n"
        )
        pool.release(other)
    finally:
        pool.close()
