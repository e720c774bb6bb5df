"""Claiming a warm spare is exclusive even though the engine's rename is not (no Docker)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from iris_envs import naming
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.discovery import Endpoint
from iris_envs.engine.types import ContainerInfo
from iris_envs.errors import NotFoundInEngine
from iris_envs.instance.containers import Owner
from iris_envs.run import spares
from tests.unit import FAKE_ENDPOINT


@dataclass
class RacyRenameEngine:
    """Renames like the Docker daemon: the old name is looked up, then (a moment later) the
    container is renamed from whatever name it has by then; a racing rename also succeeds."""

    containers: list[ContainerInfo]
    endpoint: Endpoint = FAKE_ENDPOINT

    def containers_by_label(self, labels: dict[str, str]) -> list[ContainerInfo]:
        return list(self.containers)

    def rename(self, old: str, new: str) -> None:
        found = next((c for c in self.containers if c.name == old), None)
        if found is None:
            raise NotFoundInEngine(f"No such container: {old}")
        time.sleep(0.2)  # between the lookup and the rename: the daemon's race window
        index = next(i for i, c in enumerate(self.containers) if c.id == found.id)
        self.containers[index] = replace(self.containers[index], name=new)

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        return next((c for c in self.containers if c.id == container_id), None)

    def join_client_network(self, container_id: str) -> str | None:
        return None  # this process runs on the engine's host


def test_two_processes_claiming_at_once_never_get_the_same_spare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = EnvSpec(name="app", project_root=tmp_path)
    spare = ContainerInfo(
        id="c1",
        name=spares._spare_name(spec),
        image="iris-envs/app:k",
        status="running",
        running=True,
        exit_code=None,
        labels={
            naming.LABEL_ROLE: spares.SPARE_ROLE,
            naming.LABEL_KEY: "k",
            naming.LABEL_SPARE_SINCE: str(int(time.time())),
        },
        ports={},
        health=None,
    )
    engine = RacyRenameEngine([spare])
    monkeypatch.setattr(spares, "wait_until_ready", lambda *a, **k: None)
    claimed: list[object] = []

    def claim(pid: int) -> None:
        owner = Owner(pid=pid)
        claimed.append(spares.claim(engine, spec, "iris-envs/app:k", "k", owner=owner))  # type: ignore[arg-type]

    threads = [threading.Thread(target=claim, args=(pid,)) for pid in (101, 102)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(instance is None for instance in claimed) == [False, True], claimed
