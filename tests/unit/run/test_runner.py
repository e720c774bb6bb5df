"""Unit tests of the run pipeline's pure parts: exit codes, summary, report, orphans, variables."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from iris_envs import naming
from iris_envs.build.outcome import Snapshot
from iris_envs.cache.orphans import collect_untagged_snapshots, is_orphan, process_space
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.discovery import Endpoint
from iris_envs.engine.types import ContainerInfo, ImageInfo
from iris_envs.errors import BuildFailed, DockerOperationFailed, DockerUnavailable
from iris_envs.instance.containers import Owner
from iris_envs.run import lifecycle, runner
from iris_envs.run.command import run_command, shell_exit_code
from iris_envs.run.instance import Instance
from iris_envs.run.report import report_data, summary_lines
from iris_envs.run.results import EnvResult
from iris_envs.run.runner import RunOptions, overall_exit_code, run_environments
from iris_envs.run.variables import connection_environment, redacted
from tests.unit import FAKE_ENDPOINT, POSIX_ONLY, FakeEngine, image

SECRET = "s3cret:/@pw"


def result(status: str, code: int = 0, **timings: float) -> EnvResult:
    return EnvResult(env=f"env-{status}-{code}", status=status, exit_code=code, timings=timings)


def container(labels: dict[str, str], ports: dict[int, int] | None = None) -> ContainerInfo:
    return ContainerInfo(
        id="c" * 64,
        name="iris-envs-run-x",
        image="iris-envs/x:0123456789ab",
        status="running",
        running=True,
        exit_code=None,
        labels=labels,
        ports=ports or {},
        health="healthy",
    )


# --- exit codes --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 2, 5, 42])
def test_one_environment_passes_its_code_through(code: int) -> None:
    status = "passed" if code == 0 else "failed"
    assert overall_exit_code([result(status, code)]) == code


def test_several_environments_exit_0_or_1() -> None:
    assert overall_exit_code([result("passed"), result("passed")]) == 0
    assert overall_exit_code([result("passed"), result("failed", 5)]) == 1
    assert overall_exit_code([result("error", 5), result("passed")]) == 1


def test_an_interruption_wins() -> None:
    assert overall_exit_code([result("passed"), result("interrupted", 130)]) == 130
    assert overall_exit_code([result("failed", 1), result("pending")]) == 1


@POSIX_ONLY
def test_a_command_killed_by_a_signal_exits_like_in_a_shell() -> None:
    assert shell_exit_code(-15) == 143
    assert shell_exit_code(-2) == 130
    assert shell_exit_code(3) == 3
    cancellation = runner.Cancellation()
    killed = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]
    assert run_command(killed, {}, cancellation, stream=True) == (143, "")


def test_captured_commands_see_the_variables() -> None:
    command = [sys.executable, "-c", "import os; print(os.environ['IRIS_PORT'])"]
    code, output = run_command(command, {"IRIS_PORT": "4242"}, runner.Cancellation(), False)
    assert (code, output.strip()) == (0, "4242")


# --- summary and report --------------------------------------------------------------------


def test_summary_lines() -> None:
    passed = result("passed", snapshot=0.5, start=1.25, command=2.0)
    passed.snapshot_state = "cached"
    lines = summary_lines([passed, result("failed", 1, command=0.1), result("pending")])
    assert lines[0] == (
        f"  {passed.env}: OK (snapshot cached 0.50 + start 1.25 + command 2.00 = 3.75 s)"
    )
    assert "FAIL code 1" in lines[1]
    assert lines[2].endswith("SKIPPED (not run)")


def test_report_has_per_env_facts_but_no_output() -> None:
    done = result("failed", 1, snapshot=0.01234, start=1.0, command=2.0)
    done.snapshot_state, done.snapshot_ref = "built", "iris-envs/x:0123456789ab"
    done.output = f"the command printed {SECRET}"
    data = report_data([done], ["pytest", "-x"], 1)
    [entry] = data["environments"]
    assert data["exit_code"] == 1 and data["command"] == ["pytest", "-x"]
    assert entry["status"] == "failed" and entry["exit_code"] == 1
    assert entry["snapshot"]["state"] == "built"
    assert entry["snapshot"]["ref"] == "iris-envs/x:0123456789ab"
    assert entry["error_at"] is None and entry["container"]["spare"] is None
    assert entry["seconds"] == {"snapshot": 0.012, "start": 1.0, "command": 2.0}
    assert SECRET not in repr(data)


# --- orphans -------------------------------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def owned(pid: int, **extra: str) -> dict[str, str]:
    return {
        naming.LABEL_MANAGED: "true",
        naming.LABEL_ROLE: "run",
        naming.LABEL_OWNER_PID: str(pid),
        naming.LABEL_OWNER_HOST: socket.gethostname(),
        naming.LABEL_OWNER_SPACE: process_space(),
        **extra,
    }


def test_a_container_of_a_dead_process_is_an_orphan() -> None:
    assert is_orphan(container(owned(_dead_pid())))


@pytest.mark.parametrize(
    "labels",
    [
        owned(os.getpid()),  # this very process
        owned(os.getppid()),  # a live process
        owned(_dead_pid(), **{naming.LABEL_ROLE: "up"}),  # long-lived on purpose
        owned(_dead_pid(), **{naming.LABEL_OWNER_HOST: "another-machine"}),
        owned(_dead_pid(), **{naming.LABEL_MANAGED: "false"}),
        {**owned(_dead_pid()), naming.LABEL_OWNER_PID: "not-a-pid"},
        {},
    ],
    ids=["self", "alive", "up", "other-host", "unmanaged", "bad-pid", "no-labels"],
)
def test_not_an_orphan(labels: dict[str, str]) -> None:
    assert not is_orphan(container(labels))


class UntaggedEngine(FakeEngine):
    """Images (none used by a container) and what was removed."""

    removed: list[str]

    def image_ids_in_use(self) -> set[str]:
        return set()

    def remove_image(self, ref: str, *, force: bool = False) -> None:
        self.removed.append(ref)


def untagged(image_id: str, **labels: str) -> ImageInfo:
    return image(
        image_id, (), {naming.LABEL_MANAGED: "true", naming.LABEL_ROLE: "snapshot", **labels}
    )


def test_gc_leaves_an_untagged_snapshot_whose_build_is_still_running() -> None:
    """Between commit and tag a build's image is untagged and unused: another project's gc
    must not remove it (only images of dead, legacy or day-old other-host builds go)."""
    here, now = socket.gethostname(), dt.datetime.now(dt.timezone.utc)
    space = {naming.LABEL_BUILT_IN: process_space()}
    engine = UntaggedEngine(
        images=[
            untagged("sha256:live", **{naming.LABEL_BUILT_BY: f"{here}:{os.getppid()}", **space}),
            untagged("sha256:dead", **{naming.LABEL_BUILT_BY: f"{here}:{_dead_pid()}", **space}),
            untagged(  # same host name, another PID namespace or machine: cannot be asked
                "sha256:here-elsewhere",
                **{
                    naming.LABEL_BUILT_BY: f"{here}:{_dead_pid()}",
                    naming.LABEL_BUILT_IN: "another-boot/4026531836",
                    naming.LABEL_CREATED: now.isoformat(timespec="seconds"),
                },
            ),
            untagged("sha256:legacy"),
            untagged(
                "sha256:elsewhere-now",
                **{
                    naming.LABEL_BUILT_BY: "another-machine:1",
                    naming.LABEL_CREATED: now.isoformat(timespec="seconds"),
                },
            ),
            untagged(
                "sha256:elsewhere-old",
                **{
                    naming.LABEL_BUILT_BY: "another-machine:1",
                    naming.LABEL_CREATED: (now - dt.timedelta(days=2)).isoformat(),
                },
            ),
        ]
    )
    engine.images.append(
        untagged(
            "sha256:elsewhere-naive-time",
            **{
                naming.LABEL_BUILT_BY: "another-machine:1",
                naming.LABEL_CREATED: now.replace(tzinfo=None).isoformat(),
            },
        )
    )
    engine.removed = []
    collect_untagged_snapshots(engine)  # type: ignore[arg-type]
    assert sorted(engine.removed) == ["sha256:dead", "sha256:elsewhere-old", "sha256:legacy"]


# --- connection variables ------------------------------------------------------------------


def test_connection_environment_and_redaction() -> None:
    spec = EnvSpec("app", namespace="APP", username="test", password=SECRET)
    info = container({}, ports={1972: 41000, 52773: 41001})
    variables = connection_environment(spec, info, "iris-envs/app:0123456789ab")
    assert variables["IRIS_HOST"] == "127.0.0.1"
    assert (variables["IRIS_PORT"], variables["IRIS_WEB_PORT"]) == ("41000", "41001")
    assert variables["IRIS_NAMESPACE"] == "APP"
    assert (variables["IRIS_USERNAME"], variables["IRIS_PASSWORD"]) == ("test", SECRET)
    assert variables["IRIS_CONNECTION_STRING"] == "127.0.0.1:41000/APP"
    assert variables["IRIS_SQLALCHEMY_URL"] == "iris://test:s3cret%3A%2F%40pw@127.0.0.1:41000/APP"
    assert variables["IRIS_ENVS_ENV"] == "app"
    assert variables["IRIS_ENVS_CONTAINER"] == info.id
    assert variables["IRIS_ENVS_SNAPSHOT"] == "iris-envs/app:0123456789ab"
    safe = redacted(variables)
    assert SECRET not in repr(safe) and "s3cret" not in repr(safe)
    assert safe["IRIS_PORT"] == "41000"


# --- run_environments with a fake engine ---------------------------------------------------


@dataclass
class FakeEngine:
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    endpoint: Endpoint = FAKE_ENDPOINT

    def remove_container(self, container_id: str) -> None:
        self.removed.append(container_id)

    def rename(self, current_name: str, new_name: str) -> None:
        self.renamed.append((current_name, new_name))

    def inspect_container(self, container_id: str) -> ContainerInfo:
        return container({})

    def containers_by_label(self, labels: dict[str, str | None]) -> list[ContainerInfo]:
        return []  # no warm spares: every run starts its own container

    def logs(self, container_id: str, tail: int | None = None, since: float | None = None) -> str:
        return (
            "12/04/26-13:02:11:100 (410) 0 [Utility.Event] Enabling logons\n"
            "12/04/26-13:02:13:400 (411) 2 [Generic.Event] License limit exceeded 1 times\n"
        )


@pytest.fixture
def fake_pipeline(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    def ensure_snapshot(engine: Any, spec: EnvSpec, **_: Any) -> Snapshot:
        if spec.name == "broken":
            raise BuildFailed("no snapshot")
        return Snapshot(
            env=spec.name,
            ref="iris-envs/app:0123456789ab",
            image_id="sha256:0",
            key="0" * 64,
            cached=True,
        )

    def start_instance(engine: Any, spec: EnvSpec, ref: str, **_: Any) -> Instance:
        if spec.name == "engine-stops":
            raise DockerOperationFailed("start container 96ae4c232cd6: overlay mount failed")
        return Instance(spec, container({}, ports={1972: 1}), ref, 0.0)

    monkeypatch.setattr(runner, "ensure_snapshot", ensure_snapshot)
    monkeypatch.setattr(lifecycle, "start_instance", start_instance)
    monkeypatch.setenv("NO_COLOR", "1")
    return FakeEngine()


def run(engine: FakeEngine, names: list[str], code: int, **options: Any) -> list[EnvResult]:
    command = (sys.executable, "-c", f"raise SystemExit({code})")
    specs = [EnvSpec(name, project_root=Path.cwd()) for name in names]
    return run_environments(engine, specs, RunOptions(command, **options), Owner())  # type: ignore[arg-type]


@pytest.mark.parametrize("parallel", [1, 2])
def test_failed_commands_remove_their_containers(fake_pipeline: FakeEngine, parallel: int) -> None:
    results = run(fake_pipeline, ["a", "b"], 3, parallel=parallel)
    assert [(r.status, r.exit_code) for r in results] == [("failed", 3), ("failed", 3)]
    assert len(fake_pipeline.removed) == 2
    assert overall_exit_code(results) == 1


def test_an_engine_error_then_silence_is_exit_4_for_that_environment(
    fake_pipeline: FakeEngine,
) -> None:
    def stopped_answering(window: float | None = None) -> DockerUnavailable | None:
        return DockerUnavailable("not reachable", hint="start dockerd") if silent else None

    fake_pipeline.stopped_answering = stopped_answering  # type: ignore[attr-defined]
    silent = True
    [gone] = run(fake_pipeline, ["engine-stops"], 0)
    assert (gone.status, gone.exit_code) == ("error", 4)
    assert "stopped answering (its last answer: start container" in gone.error
    silent = False  # an engine that still answers meant its error: the command's exit 1
    [refused] = run(fake_pipeline, ["engine-stops"], 0)
    assert (refused.status, refused.exit_code) == ("error", 1)
    assert refused.error.startswith("start container 96ae4c232cd6")


def test_keep_on_failure_keeps(fake_pipeline: FakeEngine) -> None:
    [failed] = run(fake_pipeline, ["a"], 1, keep_on_failure=True)
    assert failed.container_kept and fake_pipeline.removed == []
    # Marked as kept by its name, so no later gc or run takes it for an orphan.
    assert fake_pipeline.renamed == [("iris-envs-run-x", "iris-envs-kept-run-x")]
    [passed] = run(fake_pipeline, ["a"], 0, keep_on_failure=True)
    assert not passed.container_kept and len(fake_pipeline.removed) == 1


def test_a_build_error_is_reported_per_environment(fake_pipeline: FakeEngine) -> None:
    results = run(fake_pipeline, ["broken", "a"], 0)
    assert [(r.status, r.exit_code) for r in results] == [("error", 5), ("passed", 0)]
    assert results[0].error == "no snapshot"
    assert "snapshot" in results[0].timings  # the failed phase's time, for the timeline
    assert [line.severity for line in results[1].iris_log] == ["severe"]  # from its container
    assert results[0].iris_log == [] and results[1].iris_log_total == 1
    assert overall_exit_code(results) == 1
    assert overall_exit_code(results[:1]) == 5
