"""Orphans are judged only where their owner's pid can be asked (issue 22, "Orphan collection";
no Docker): same host name AND same owner space (boot id and PID namespace); otherwise a
container is left for a day from its creation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import subprocess
import sys

import pytest

from iris_envs import naming
from iris_envs.cache.orphans import UNDECIDABLE_OWNER_BOUND, is_orphan, process_space
from iris_envs.engine.types import ContainerInfo

HOST, SPACE = "ci-runner", "976a11fb-16d5-4d30-96ad-b3defd56f060/4026531836"
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.timezone.utc)
RECENT = "2026-12-04T11:59:00.123456789Z"
OLD = (NOW - UNDECIDABLE_OWNER_BOUND - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.1Z")


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def run_container(
    created: str = RECENT, name: str = "iris-envs-run-x-1", **labels: str
) -> ContainerInfo:
    return ContainerInfo(
        id="c" * 64,
        name=name,
        image="iris-envs/x:0123456789ab",
        status="running",
        running=True,
        exit_code=None,
        labels={
            naming.LABEL_MANAGED: "true",
            naming.LABEL_ROLE: "run",
            naming.LABEL_OWNER_HOST: HOST,
            naming.LABEL_OWNER_PID: str(dead_pid()),
            naming.LABEL_OWNER_SPACE: SPACE,
            **labels,
        },
        ports={},
        health=None,
        created=created,
    )


def orphan(container: ContainerInfo, space: str = SPACE) -> bool:
    return is_orphan(container, host=HOST, space=space, now=NOW)


def test_a_dead_owner_that_can_be_asked_is_an_orphan() -> None:
    assert orphan(run_container())


@pytest.mark.parametrize(
    "labels",
    [
        {naming.LABEL_OWNER_SPACE: "976a11fb-16d5-4d30-96ad-b3defd56f060/4026532176"},  # unshare
        {naming.LABEL_OWNER_SPACE: "0b5e7c3e-0000-4000-8000-000000000000/4026531836"},  # machine
        {naming.LABEL_OWNER_SPACE: ""},  # off Linux, asked from Linux
        {},  # an older iris-envs: no space recorded
    ],
    ids=["other-pid-namespace", "other-boot-same-hostname", "no-space", "older-label"],
)
def test_an_owner_that_cannot_be_asked_keeps_its_container_for_the_bound(
    labels: dict[str, str],
) -> None:
    fresh = run_container(**labels)
    if not labels:
        fresh = dataclasses.replace(
            fresh, labels={k: v for k, v in fresh.labels.items() if k != naming.LABEL_OWNER_SPACE}
        )
    assert not orphan(fresh)
    assert orphan(dataclasses.replace(fresh, created=OLD))  # provably past the documented bound
    assert not orphan(dataclasses.replace(fresh, created="garbage"))  # unknown age: kept


def test_off_linux_the_host_name_decides_as_before() -> None:
    container = run_container(**{naming.LABEL_OWNER_SPACE: ""})
    assert orphan(container, space="")
    other_host = run_container(**{naming.LABEL_OWNER_SPACE: "", naming.LABEL_OWNER_HOST: "mac2"})
    assert not orphan(other_host, space="")


def test_a_claimed_spare_is_judged_in_its_claimant_s_space() -> None:
    pid = dead_pid()
    spare = {naming.LABEL_ROLE: naming.SPARE_ROLE}
    here = run_container(name=f"iris-envs-run-x-1-p{pid}-s{naming.space_tag(SPACE)}", **spare)
    elsewhere = run_container(name=f"iris-envs-run-x-1-p{pid}-s{naming.space_tag('b/1')}", **spare)
    older_name = run_container(name=f"iris-envs-run-x-1-p{pid}", **spare)
    available = run_container(name="iris-envs-spare-x-0123456789", created=OLD, **spare)
    assert orphan(here)
    assert not orphan(elsewhere) and not orphan(older_name)
    assert orphan(dataclasses.replace(elsewhere, created=OLD))
    assert not orphan(available)  # gc's spare age rule is for those


@pytest.mark.skipif(sys.platform != "linux", reason="boot id and PID namespaces are Linux's")
def test_this_process_s_space_is_its_boot_and_pid_namespace() -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}/\d+", process_space()), process_space()


class GcEngine:
    """One orphan, one stale spare, one untagged snapshot; records removals."""

    def __init__(self) -> None:
        self.removed: list[str] = []
        dead = run_container(name="iris-envs-run-dead-1")
        self.orphan = dataclasses.replace(dead, labels={**dead.labels})

    def containers_by_label(self, labels: dict[str, str | None]) -> list[ContainerInfo]:
        return [self.orphan] if labels.get(naming.LABEL_ROLE) is None else []

    def remove_container(self, container_id: str) -> None:
        self.removed.append(container_id)

    def remove_image(self, ref: str, *, force: bool = False) -> None:
        self.removed.append(ref)

    def images_by_label(self, labels: dict[str, str | None]) -> list[object]:
        return []

    def image_ids_in_use(self) -> set[str]:
        return set()


def test_gc_dry_run_lists_and_removes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from iris_envs.cache import orphans
    from iris_envs.cli.main import main
    from iris_envs.engine import adapter

    engine = GcEngine()
    monkeypatch.setattr(adapter, "DockerEngine", lambda: engine)
    monkeypatch.setattr(orphans.socket, "gethostname", lambda: HOST)
    monkeypatch.setattr(orphans, "process_space", lambda: SPACE)
    assert main(["gc", "--dry-run"]) == 0
    assert "would remove iris-envs-run-dead-1 (owner process gone)" in capsys.readouterr().out
    assert engine.removed == []
    assert main(["gc"]) == 0
    assert "removed iris-envs-run-dead-1 (owner process gone)" in capsys.readouterr().out
    assert engine.removed == [engine.orphan.id]
