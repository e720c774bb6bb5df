"""The `dat` copies made while IRIS starts: order, errors, and nothing for other steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from iris_envs.dat_prestage import copy_databases_ahead
from iris_envs.errors import BuildFailed, DockerOperationFailed
from iris_envs.manifest import SetupStep, StepKind


class CopyRecorder:
    """Records copy_in destinations; refuses the ones in ``refuse`` as the engine would."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.destinations: list[str] = []
        self.refuse = refuse

    def copy_in(self, container_id: str, destination: str, files: Any, **_: Any) -> int:
        self.destinations.append(destination)
        if destination in self.refuse:
            raise DockerOperationFailed(f"copy into {destination} was refused by the engine")
        return sum(item.source.stat().st_size for item in files)


def dat_step(tmp_path: Path, index: int, name: str, size: int) -> SetupStep:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "IRIS.DAT").write_bytes(b"x" * size)
    return SetupStep(index, StepKind.DAT, name, folder, options=(("database", name.upper()),))


def test_every_dat_step_is_copied_in_order_and_other_steps_are_left_to_their_turn(
    tmp_path: Path,
) -> None:
    engine = CopyRecorder()
    first, second = dat_step(tmp_path, 0, "orders", 10), dat_step(tmp_path, 2, "items", 7)
    script = SetupStep(1, StepKind.OBJECTSCRIPT, "x.script", tmp_path / "x.script")
    progress: list[str] = []
    copies = copy_databases_ahead(
        engine,  # type: ignore[arg-type]
        "c1",
        [first, script, second],
        on_progress=progress.append,
    )
    assert engine.destinations == ["/usr/irissys/mgr/orders", "/usr/irissys/mgr/items"]
    assert sorted(copies) == [0, 2]
    assert copies[first.index].bytes_copied == 10
    assert copies[second.index].directory == "/usr/irissys/mgr/items"
    assert progress == [
        "copying setup[0] dat orders while IRIS starts",
        "copying setup[2] dat items while IRIS starts",
    ]


def test_a_refused_copy_fails_the_build_naming_its_step_and_stops_there(tmp_path: Path) -> None:
    engine = CopyRecorder(refuse=("/usr/irissys/mgr/orders",))
    first, second = dat_step(tmp_path, 0, "orders", 10), dat_step(tmp_path, 1, "items", 7)
    refused = r"setup\[0\] dat orders failed: .*mgr/orders was refused"
    with pytest.raises(BuildFailed, match=refused):
        copy_databases_ahead(engine, "c1", [first, second])  # type: ignore[arg-type]
    assert engine.destinations == ["/usr/irissys/mgr/orders"]


def test_without_a_dat_step_nothing_is_copied_and_steps_copy_their_own(tmp_path: Path) -> None:
    engine = CopyRecorder()
    script = SetupStep(0, StepKind.OBJECTSCRIPT, "x.script", tmp_path / "x.script")
    assert copy_databases_ahead(engine, "c1", [script]) == {}  # type: ignore[arg-type]
    assert engine.destinations == []
