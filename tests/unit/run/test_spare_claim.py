"""Claiming a warm spare is exclusive even though the engine's rename is not (no Docker)."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from iris_envs import naming
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.discovery import Endpoint
from iris_envs.engine.types import ContainerInfo, ContainerSpec
from iris_envs.errors import DockerOperationFailed, NotFoundInEngine
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

    def __post_init__(self) -> None:
        self.names: dict[str, str] = {}  # claim tokens: name -> id, reserved under a lock
        self.reserve = threading.Lock()
        self.tokens_made = 0

    def create_container(self, spec: ContainerSpec) -> str:
        assert spec.name is not None and spec.labels[naming.LABEL_ROLE] == spares.CLAIM_ROLE
        with self.reserve:  # the daemon reserves a name for one container only
            if spec.name in self.names:
                raise DockerOperationFailed(
                    f"create container: Conflict. The container name {spec.name!r} is already "
                    "in use by container"
                )
            self.tokens_made += 1
            self.names[spec.name] = container_id = f"token{self.tokens_made}"
        return container_id

    def remove_container(self, container_id: str) -> None:
        with self.reserve:
            self.names = {n: i for n, i in self.names.items() if i != container_id}

    def join_client_network(self, container_id: str) -> str | None:
        return None  # this process runs on the engine's host


@pytest.mark.parametrize("cache_folders", ["one", "separate"])
def test_two_processes_claiming_at_once_never_get_the_same_spare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache_folders: str
) -> None:
    if cache_folders == "separate":  # each its own lock file: no lock between them (item 8)
        monkeypatch.setattr(spares, "_claim_lock", lambda engine, spec: contextlib.nullcontext())
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
    assert engine.names == {}  # the tokens are gone


def test_a_spare_of_another_image_of_the_same_key_is_stale() -> None:
    # `run --rebuild` keeps the key and makes a new image (issue 22 item 9).
    spare = ContainerInfo(
        id="c1",
        name="iris-envs-spare-app-0123456789",
        image="iris-envs/app:k",
        status="running",
        running=True,
        exit_code=None,
        labels={naming.LABEL_KEY: "k", naming.LABEL_SPARE_SINCE: str(int(time.time()))},
        ports={},
        health=None,
        image_id="sha256:old",
    )
    now = time.time()
    assert "rebuilt" in spares.stale_reason(spare, "k", 3600, now, "sha256:new")
    assert spares.stale_reason(spare, "k", 3600, now, "sha256:old") == ""
    assert spares.stale_reason(spare, "k", 3600, now) == ""  # no image to compare: the key rules
