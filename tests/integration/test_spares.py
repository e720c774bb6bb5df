"""Warm spare containers (issue 12) on a real engine, with a stand-in whose start is slow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from iris_envs import naming
from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import (
    MakeProject,
    docker,
    popen_cli,
    remove_env_artifacts,
    run_cli,
    unique_env,
)
from tests.standin.build import build_slow_variant

pytestmark = pytest.mark.docker

VERSION = "2025.1"
START_DELAY = 3  # seconds the stand-in waits before `Enabling logons`


@dataclass
class Project:
    root: Path
    env: str

    def run(
        self, *args: str, report: Path | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        extra = ["--report", str(report)] if report else []
        return run_cli(
            ["run", "-e", self.env, *extra, *args, "--", "true"], self.root, None, timeout
        )

    def spares(self, *, available: bool = True) -> list[dict[str, str]]:
        """This environment's spare containers as {id, name, key}."""
        out = docker(
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            "label=org.iris-envs.role=spare",
            "--filter",
            f"label=org.iris-envs.env={self.env}",
            "--format",
            '{{.ID}} {{.Names}} {{.Label "org.iris-envs.key"}}',
        ).stdout.split("\n")
        rows = [dict(zip(("id", "name", "key"), line.split(), strict=True)) for line in out if line]
        return [r for r in rows if r["name"].startswith("iris-envs-spare-") or not available]


def container_of(report: Path) -> str:
    data = json.loads(report.read_text())
    return str(data["environments"][0]["container"]["id"])


@pytest.fixture
def spare_project(make_project: MakeProject, standin_images: dict[str, str]) -> Iterator[Project]:
    env = unique_env("sp")
    image = build_slow_variant(VERSION, START_DELAY)
    root = make_project(
        f'[env."{env}"]\nimage = "{image}"\npassword = "Pw{uuid.uuid4().hex}"\nspares = 1\n'
        'setup = [{ objectscript = "setup.script" }]\n',
        {"setup.script": 'Write "v1",!\n'},
        name=env,
    )
    yield Project(root, env)
    remove_env_artifacts(env)


def test_a_run_uses_a_warm_spare_exactly_once_and_starts_the_next(
    spare_project: Project, tmp_path: Path
) -> None:
    first = spare_project.run(report=tmp_path / "1.json")
    assert first.returncode == 0, first.stderr
    assert "started 1 warm spare(s)" in first.stderr
    [spare] = spare_project.spares()
    assert spare["id"] != container_of(tmp_path / "1.json")

    second = spare_project.run(report=tmp_path / "2.json")
    assert second.returncode == 0, second.stderr
    assert container_of(tmp_path / "2.json") == spare["id"]  # the spare served this run
    assert "claim a warm spare done" in second.stderr
    [replacement] = spare_project.spares()
    assert replacement["id"] != spare["id"]
    # The used spare was removed after the run, like any fresh container.
    assert docker("inspect", spare["id"], check=False).returncode != 0
    # status shows the spare; down --spares removes it.
    status = json.loads(run_cli(["status", "--json"], spare_project.root).stdout)
    assert {"name": replacement["name"], "role": "spare"}.items() <= next(
        row for row in status if row["name"] == replacement["name"]
    ).items()
    down = run_cli(["down", "--spares"], spare_project.root)
    assert down.returncode == 0 and replacement["name"] in down.stdout
    assert spare_project.spares() == []


def test_concurrent_runs_never_share_a_spare(spare_project: Project, tmp_path: Path) -> None:
    warm = spare_project.run("--spares", "2")
    assert warm.returncode == 0, warm.stderr
    assert len(spare_project.spares()) == 2

    def one_run(index: int) -> tuple[int, str]:
        report = tmp_path / f"r{index}.json"
        done = spare_project.run("--spares", "2", report=report, timeout=300)
        return done.returncode, container_of(report) if report.exists() else done.stderr

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(one_run, range(4)))
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes
    ids = [container for _, container in outcomes]
    assert len(set(ids)) == 4, ids  # no container served two runs
    # Nothing left but the replenished spares (two; a run may still be starting one).
    left = spare_project.spares(available=False)
    assert all(row["name"].startswith("iris-envs-spare-") for row in left), left
    assert 2 <= len(left) <= 4, left
    running = docker(
        "ps",
        "-aq",
        "--filter",
        "label=org.iris-envs.role=run",
        "--filter",
        f"label=org.iris-envs.env={spare_project.env}",
    ).stdout
    assert running.strip() == ""


def test_concurrent_runs_with_separate_cache_folders_never_share_a_spare(
    spare_project: Project, tmp_path: Path
) -> None:
    # Issue 22 item 8: the claim lock lived in the cache folder only; runs of separate folders
    # (separate CI jobs on one host) raced on the engine's rename and two got the same spare.
    for round_ in range(2):
        warm = spare_project.run("--spares", "6")
        assert warm.returncode == 0, warm.stderr
        assert len(spare_project.spares()) == 6

        def one_run(index: int, round_: int = round_) -> tuple[int, str]:
            report = tmp_path / f"r{round_}-{index}.json"
            cache = {"IRIS_ENVS_CACHE_DIR": str(tmp_path / f"cache-{round_}-{index}")}
            args = ["run", "-e", spare_project.env, "--spares", "0", "--report", str(report)]
            done = run_cli([*args, "--", "true"], spare_project.root, cache, 300)
            if done.returncode != 0 or not report.exists():
                return done.returncode, done.stdout + done.stderr
            return done.returncode, container_of(report)

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(one_run, range(8)))
        assert [code for code, _ in outcomes] == [0] * 8, outcomes
        ids = [container for _, container in outcomes]
        assert len(set(ids)) == 8, ids  # no container served two runs
        assert spare_project.spares(available=False) == []  # all six claimed, each once


def test_run_rebuild_never_uses_a_spare_of_the_snapshot_it_replaced(
    spare_project: Project, tmp_path: Path
) -> None:
    # Issue 22 item 9: the key is the same after --rebuild, the image is not; a spare of the
    # old image served the run while IRIS_ENVS_SNAPSHOT named the new one, and kept the old
    # image (untagged) alive.
    assert spare_project.run().returncode == 0
    [old] = spare_project.spares()
    old_image = docker("inspect", "-f", "{{.Image}}", old["id"]).stdout.strip()
    report = tmp_path / "r.json"
    done = spare_project.run("--rebuild", report=report, timeout=300)
    assert done.returncode == 0, done.stderr
    latest = naming.latest_ref(spare_project.root.resolve(), spare_project.env)
    tagged = docker("image", "inspect", "-f", "{{.Id}}", latest)
    new_image = tagged.stdout.strip()
    assert new_image != old_image
    assert container_of(report) != old["id"]  # a container of the new snapshot served it
    assert docker("inspect", old["id"], check=False).returncode != 0  # the old spare is gone
    assert docker("image", "inspect", old_image, check=False).returncode != 0  # and its image
    [spare] = spare_project.spares()  # the replenished one is of the new snapshot
    assert docker("inspect", "-f", "{{.Image}}", spare["id"]).stdout.strip() == new_image


def test_a_spare_of_an_old_key_is_removed_not_used(spare_project: Project, tmp_path: Path) -> None:
    assert spare_project.run().returncode == 0
    [old] = spare_project.spares()
    (spare_project.root / "setup.script").write_text('Write "v2",!\n')  # a new key
    done = spare_project.run(report=tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    assert container_of(tmp_path / "r.json") != old["id"]
    assert "its snapshot is not the environment's current one" in done.stderr
    assert docker("inspect", old["id"], check=False).returncode != 0
    [new] = spare_project.spares()
    assert new["key"] != old["key"]


def _claimed_spare_of_a_killed_run(spare_project: Project, tmp_path: Path) -> str:
    """A warm spare, claimed by a run that is then SIGKILLed: its renamed container carries the
    dead pid. Returns the container's id."""
    assert spare_project.run().returncode == 0
    [spare] = spare_project.spares()
    script = tmp_path / "hang.py"
    # The command ends when the killed run's process does (it is reparented): else, once it
    # has started, it would hold the run's output pipes open for its whole sleep (seen on
    # Podman, where the claim is seen later, after the command started).
    script.write_text(
        "import os, time\n"
        "parent = os.getppid()\n"
        "deadline = time.monotonic() + 120\n"
        "while os.getppid() == parent and time.monotonic() < deadline:\n"
        "    time.sleep(0.1)\n"
    )
    process = popen_cli(
        ["run", "-e", spare_project.env, "--spares", "0", "--", sys.executable, str(script)],
        spare_project.root,
    )
    deadline = time.monotonic() + 60
    claimed = ""
    while time.monotonic() < deadline and not claimed:
        claimed = docker(
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            f"id={spare['id']}",
            "--filter",
            "name=iris-envs-run-",
        ).stdout.strip()
        time.sleep(0.2)
    assert claimed == spare["id"]
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)  # also closes its pipes
    return str(spare["id"])


def test_gc_removes_spares_whose_snapshot_is_gone_and_claimed_spares_of_killed_runs(
    spare_project: Project, tmp_path: Path
) -> None:
    # Orphans are collected host-wide, so another xdist worker's `gc` or `run` may take ours
    # first (then our gc rightly finds nothing): try again with a new one, and fail only if
    # gc never says what it removed.
    for _attempt in range(3):
        spare = _claimed_spare_of_a_killed_run(spare_project, tmp_path)
        gc = run_cli(["gc"], spare_project.root)
        assert gc.returncode == 0, gc.stdout + gc.stderr
        assert docker("inspect", spare, check=False).returncode != 0
        if "owner process gone" in gc.stdout:
            break
    else:
        pytest.fail(f"gc never removed a claimed spare of a killed run itself: {gc.stdout}")

    # A spare whose snapshot image is gone (pruned, rebuilt) is removed by gc.
    for _attempt in range(3):
        assert spare_project.run("--spares", "1").returncode == 0
        [orphan] = spare_project.spares()
        image = docker("inspect", "-f", "{{.Config.Image}}", orphan["id"]).stdout.strip()
        docker("rmi", image)  # untag: the container keeps the image alive, the snapshot is gone
        gc = run_cli(["gc"], spare_project.root)
        assert spare_project.spares() == []
        if "its snapshot is gone" in gc.stdout:
            break
    else:
        pytest.fail(f"gc never removed a spare whose snapshot is gone itself: {gc.stdout}")


def test_bad_spare_settings_are_usage_errors(spare_project: Project) -> None:
    done = run_cli(
        ["run", "-e", spare_project.env, "--spares", "99", "--", "true"], spare_project.root
    )
    assert done.returncode == int(ExitCode.CONFIG_ERROR) and "--spares" in done.stderr
    done = run_cli(
        ["run", "-e", spare_project.env, "--", "true"],
        spare_project.root,
        {"IRIS_ENVS_SPARES": "many"},
    )
    assert done.returncode == int(ExitCode.CONFIG_ERROR) and "IRIS_ENVS_SPARES" in done.stderr
    toml = spare_project.root / "iris-envs.toml"
    toml.write_text(toml.read_text().replace("spares = 1", "spares = -1"))
    done = run_cli(["run", "-e", spare_project.env, "--", "true"], spare_project.root)
    assert done.returncode == int(ExitCode.CONFIG_ERROR) and "spares" in done.stderr
    assert "Traceback" not in done.stderr
