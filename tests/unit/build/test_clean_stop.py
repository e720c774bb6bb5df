"""Unit tests: the clean stop's verdicts (fake engine), the commit after it, the build entrypoint,
CPF checks."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from iris_envs.build import attempt, clean_stop
from iris_envs.build.clean_stop import (
    keep_alive_entrypoint,
    restore_config_changes,
    stop_iris_cleanly,
)
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.types import ExecResult, ImageInfo
from iris_envs.errors import BuildFailed, DockerOperationFailed
from iris_envs.fixtures.dat_step import DatCopy
from iris_envs.instance.containers import Owner
from iris_envs.progress import Reporter
from tests.unit import POSIX_ONLY


def image(entrypoint: tuple[str, ...] | None, cmd: tuple[str, ...] | None = None) -> ImageInfo:
    return ImageInfo(
        id="sha256:1",
        tags=(),
        repo_digests=(),
        labels={},
        created="",
        size=0,
        os="linux",
        architecture="amd64",
        cmd=cmd,
        entrypoint=entrypoint,
        user="51773",
    )


def test_the_image_entrypoint_runs_under_a_keep_alive_shell_with_tini_kept_as_pid_1() -> None:
    entrypoint, command = keep_alive_entrypoint(
        image(("/tini", "--", "/docker-entrypoint.sh"), ("iris",)), None
    )
    assert entrypoint[:3] == ["/tini", "--", "/bin/sh"]
    assert entrypoint[-1] == "/docker-entrypoint.sh"
    assert "ISC_CPF_MERGE_FILE" not in entrypoint[4]
    assert command == ["iris"]
    plain, _ = keep_alive_entrypoint(image(("/iris-main",)), "/home/irisowner/s/merge.cpf")
    assert plain[0] == "/bin/sh" and plain[-1] == "/iris-main"
    # The merge file reaches only the entrypoint process, through the shell's command line.
    assert plain[2].startswith("ISC_CPF_MERGE_FILE=/home/irisowner/s/merge.cpf ")


def test_the_snapshot_gets_the_base_entrypoint_command_and_user_back() -> None:
    changes = restore_config_changes(image(("/tini", "--", "/iris-main")))
    assert changes == ['ENTRYPOINT ["/tini", "--", "/iris-main"]', "CMD []", "USER 51773"]


@dataclass
class FakeEngine:
    """Answers exec by the command's first words; records stop calls."""

    answers: dict[str, Callable[[], ExecResult]]
    stopped: list[str] = field(default_factory=list)

    def exec(self, container_id: str, command: list[str], **_: object) -> ExecResult:
        return self.answers[" ".join(command[:2])]()

    def stop(self, container_id: str, timeout: float = 60) -> None:
        self.stopped.append(container_id)


QLIST_DOWN = "IRIS^/usr/irissys^2025.1.0.0.0^down, last used 2026-11-22^iris.cpf^1972^52773^0^ok"


def engine(stop: ExecResult, qlist: str = QLIST_DOWN, tidy: str = "removed 1024") -> FakeEngine:
    """The tidy script's two outcomes as test_the_tidy_script_waits_for_qlist_down shows them."""
    state = qlist.split("^")[3]
    return FakeEngine(
        {
            "iris stop": lambda: stop,
            "sh -c": lambda: (
                ExecResult(0, tidy)
                if state.startswith("down")
                else ExecResult(clean_stop.NOT_DOWN, f"not down: {state}")
            ),
        }
    )


@pytest.mark.parametrize(
    ("iris_script", "expected"),
    [
        (
            f"echo '{QLIST_DOWN.replace('down, last used', 'running, since')}'",
            "running, since 2026-11-22",
        ),
        ("echo 'iris: instance IRIS not found' >&2; exit 1", "iris: instance IRIS not found"),
    ],
)
@POSIX_ONLY
def test_the_tidy_script_waits_for_qlist_down(
    tmp_path: Path, iris_script: str, expected: str
) -> None:
    """The real script under sh, with a fake `iris` first on PATH: an instance not yet down
    (or a qlist that fails) exits NOT_DOWN naming the state, and tidies nothing."""
    (tmp_path / "iris").write_text(f"#!/bin/sh\n{iris_script}\n")
    (tmp_path / "iris").chmod(0o755)
    done = subprocess.run(
        ["sh", "-c", clean_stop._TIDY_ONCE_DOWN],
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == clean_stop.NOT_DOWN
    assert done.stdout.strip() == f"not down: {expected}"


def test_a_clean_stop_tidies_and_leaves_the_container_running_for_the_commit() -> None:
    fake = engine(ExecResult(0, ""))
    assert stop_iris_cleanly(fake, "c1") == 1024  # type: ignore[arg-type]
    assert fake.stopped == []  # the commit pauses it; the build removes it while verifying


def test_iris_stop_failing_is_a_build_failure_and_nothing_is_stopped_or_committed() -> None:
    fake = engine(ExecResult(1, "Shutdown failed: cannot signal the instance"))
    with pytest.raises(BuildFailed, match=r"exit code 1.*cannot signal"):
        stop_iris_cleanly(fake, "c1")  # type: ignore[arg-type]
    assert fake.stopped == []


def test_an_instance_that_never_reports_down_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clean_stop, "DOWN_TIMEOUT", 0.3)
    running = QLIST_DOWN.replace("down, last used", "running, since")
    with pytest.raises(BuildFailed, match="still reports 'running"):
        stop_iris_cleanly(engine(ExecResult(0, ""), qlist=running), "c1")  # type: ignore[arg-type]


def test_a_stop_that_outlasts_its_timeout_is_a_build_failure() -> None:
    def hang() -> ExecResult:
        raise DockerOperationFailed("exec 1234 did not finish within 180 s")

    fake = FakeEngine({"iris stop": hang})
    with pytest.raises(BuildFailed, match="did not finish within 180 s"):
        stop_iris_cleanly(fake, "c1")  # type: ignore[arg-type]


@dataclass
class CommitEngine:
    """Refuses to commit a running container once (``refusal``); records stops and commits."""

    refusal: str
    calls: list[str] = field(default_factory=list)

    def commit(self, container_id: str, **_: object) -> str:
        self.calls.append("commit")
        if self.refusal and "stop" not in self.calls:
            raise DockerOperationFailed(self.refusal)
        return "sha256:snap"

    def stop(self, container_id: str, timeout: float = 60) -> None:
        self.calls.append("stop")


def build_run(engine: object) -> attempt.BuildAttempt:
    return attempt.BuildAttempt(
        engine,  # type: ignore[arg-type]
        EnvSpec("app"),
        owner=Owner(),
        reporter=Reporter("app"),
        log=io.StringIO(),
    )


def test_the_build_container_is_committed_running_and_paused_not_stopped() -> None:
    engine = CommitEngine(refusal="")
    assert build_run(engine)._commit("c1", labels={}, changes=[]) == "sha256:snap"
    assert engine.calls == ["commit"]


def test_an_engine_that_cannot_pause_gets_the_container_stopped_then_committed() -> None:
    # rootless Docker on cgroup v1 (no freezer) refuses a paused commit.
    engine = CommitEngine(refusal="Cannot pause container c1: cgroups: freezer not supported")
    assert build_run(engine)._commit("c1", labels={}, changes=[]) == "sha256:snap"
    assert engine.calls == ["commit", "stop", "commit"]


def test_other_commit_refusals_fail_the_build_as_before() -> None:
    engine = CommitEngine(refusal="write /var/lib/docker/tmp: no space left on device")
    with pytest.raises(DockerOperationFailed, match="no space left"):
        build_run(engine)._commit("c1", labels={}, changes=[])
    assert engine.calls == ["commit"]


@dataclass
class ExecEngine:
    """Records execs; fails them with ``refusal`` when set (a stopped container)."""

    refusal: str = ""
    execs: list[list[str]] = field(default_factory=list)

    def exec(self, container_id: str, command: list[str], **_: object) -> ExecResult:
        self.execs.append(command)
        if self.refusal:
            raise DockerOperationFailed(self.refusal)
        return ExecResult(0, "")


def test_committed_database_copies_are_deleted_before_the_engine_syncs_them() -> None:
    engine = ExecEngine()
    run = build_run(engine)
    run._discard_database_copies("c1")
    assert engine.execs == []  # no dat steps: nothing to discard
    run.dat_copies = {
        2: DatCopy("/usr/irissys/mgr/orders", 1 << 30),
        0: DatCopy("/usr/irissys/mgr/bench", 1 << 30),
    }
    run._discard_database_copies("c1")
    assert engine.execs == [
        ["rm", "-rf", "--", "/usr/irissys/mgr/bench", "/usr/irissys/mgr/orders"]
    ]


def test_discarding_is_best_effort() -> None:
    engine = ExecEngine(refusal="container c1 is not running")
    run = build_run(engine)
    run.dat_copies = {0: DatCopy("/usr/irissys/mgr/bench", 1)}
    run._discard_database_copies("c1")  # no error: the container is removed next anyway
    assert len(engine.execs) == 1


@dataclass
class ImagesEngine:
    """Answers inspect_image from ``tags``; records removals."""

    tags: tuple[str, ...]
    removed: list[str] = field(default_factory=list)

    def inspect_image(self, ref: str) -> ImageInfo:
        return ImageInfo(ref, self.tags, (), {}, "", 1 << 30, "linux", "amd64")

    def remove_image(self, ref: str, *, force: bool = False) -> None:
        self.removed.append(ref)


@pytest.mark.parametrize(("tags", "removed"), [((), ["sha256:old"]), (("mine:1",), [])])
def test_the_replaced_snapshot_is_removed_only_when_no_tag_names_it(
    tags: tuple[str, ...], removed: list[str]
) -> None:
    """The engine deletes an image with ONE tag when asked by id: a tag the user gave the old
    snapshot must keep it."""
    engine = ImagesEngine(tags)
    old = engine.inspect_image("sha256:old")
    build_run(engine)._remove_replaced(old)
    assert engine.removed == removed
