"""Unit tests: the clean stop's verdicts (fake engine), the build entrypoint, CPF checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from iris_envs import clean_stop
from iris_envs.clean_stop import keep_alive_entrypoint, restore_config_changes, stop_iris_cleanly
from iris_envs.cpf import parse_cpf, unmerged_settings
from iris_envs.docker_adapter import ExecResult, ImageInfo
from iris_envs.errors import BuildFailed, DockerOperationFailed


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
    return FakeEngine(
        {
            "iris stop": lambda: stop,
            "iris qlist": lambda: ExecResult(0, qlist),
            "sh -c": lambda: ExecResult(0, tidy),
        }
    )


def test_a_clean_stop_tidies_and_stops_the_container() -> None:
    fake = engine(ExecResult(0, ""))
    assert stop_iris_cleanly(fake, "c1") == 1024  # type: ignore[arg-type]
    assert fake.stopped == ["c1"]


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


def test_cpf_settings_are_compared_by_section_and_key_not_actions() -> None:
    cpf = "[config]\nglobals=0,0,512,0,0,0\n[Startup]\nSystemMode=TEST\n"
    assert parse_cpf(cpf)[("startup", "systemmode")] == "TEST"
    merge = "[Config]\nGlobals = 0,0,512,0,0,0\n[Actions]\nCreateDatabase:Name=X\n"
    assert unmerged_settings(merge, cpf) == []
    assert unmerged_settings("[confg]\nglobals=1\n", cpf) == ["[confg] globals=1"]
    assert unmerged_settings("[config]\nglobals=1\n", cpf) == ["[config] globals=1"]
