"""A container removed while it starts is told apart from one that failed (issue 22 item 7; no
Docker)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from iris_envs.engine.types import ContainerInfo
from iris_envs.errors import DockerOperationFailed, DockerUnavailable, IrisEnvsError, NotReady
from iris_envs.run.instance import _removed_meanwhile


@dataclass
class InspectEngine:
    status: str | None  # None: no such container
    unavailable: bool = False

    def inspect_container(self, container_id: str) -> ContainerInfo | None:
        if self.unavailable:
            raise DockerUnavailable("the engine stopped answering")
        if self.status is None:
            return None
        return ContainerInfo(
            id=container_id,
            name="iris-envs-up-app",
            image="iris-envs/app:k",
            status=self.status,
            running=self.status == "running",
            exit_code=None,
            labels={},
            ports={},
            health=None,
        )


LOGS = DockerOperationFailed(
    "logs of container c1: can not get logs from container which is dead or marked for removal"
)
TIMEOUT = NotReady("IRIS did not become ready in 30 s")


@pytest.mark.parametrize(
    ("status", "error", "removed"),
    [
        ("running", LOGS, True),  # still running while its removal kills it: the words say so
        (None, TIMEOUT, True),  # gone
        ("removing", TIMEOUT, True),
        ("dead", TIMEOUT, True),
        ("running", TIMEOUT, False),  # a slow start is not a removal
        ("exited", DockerOperationFailed("exec: container is not running"), False),  # crashed
    ],
)
def test_removed_meanwhile(status: str | None, error: IrisEnvsError, removed: bool) -> None:
    assert _removed_meanwhile(InspectEngine(status), "c1", error) is removed  # type: ignore[arg-type]


def test_an_engine_that_stops_answering_is_not_a_removal() -> None:
    assert not _removed_meanwhile(InspectEngine(None, unavailable=True), "c1", TIMEOUT)  # type: ignore[arg-type]
