"""Orphan collection never takes a live container: a run in another PID namespace keeps its
container through `gc` and the next run's collection (issue 22, "Orphan collection").

The run is started under `unshare --pid --fork --mount-proc` with its pid set (ns_last_pid) to
one that is not alive in the host's namespace: the host name is the same, and asking the pid
here says "gone". Before owners carried their space (boot id and PID namespace), `gc` removed
the container while the command ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import cli_env, docker, run_cli
from tests.integration.test_build import project_env

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None,
        reason="needs Linux, root and unshare (all present in CI)",
    ),
]

__all__ = ["project_env"]  # the fixture, used by name


def dead_here(start: int = 50000) -> int:
    """A pid that no process has in this PID namespace."""
    pid = start
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def run_containers(env: str) -> list[str]:
    return docker(
        "ps",
        "-aq",
        "--filter",
        "label=org.iris-envs.role=run",
        "--filter",
        f"label=org.iris-envs.env={env}",
    ).stdout.split()


def test_gc_leaves_the_container_of_a_run_in_another_pid_namespace(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    root, env = project_env("", {})
    built = run_cli(["build", "-e", env], cwd=root, timeout=300)
    assert built.returncode == 0, built.stderr
    # Orphans are collected engine-wide: another session's `gc` or `run` (of another version)
    # may take the container first, and then this attempt says nothing; try again.
    for attempt in range(3):
        pid = dead_here()
        started, release = root / f"started-{attempt}", root / f"release-{attempt}"
        command = f"touch {started}; while [ ! -e {release} ]; do sleep 0.1; done"
        script = (
            f"echo {pid - 1} > /proc/sys/kernel/ns_last_pid && "
            f"{sys.executable} -m iris_envs run -e {env} -- sh -c '{command}'"
        )
        runner = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
            cwd=root,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while not started.exists() and runner.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            containers = run_containers(env)
            if not started.exists() or len(containers) != 1:
                continue  # its container removed while it started (see the loop's comment)
            [container] = containers
            inspected = docker("inspect", "-f", "{{.Name}} {{json .Config.Labels}}", container)
            name, labels = inspected.stdout.strip().lstrip("/").split(" ", 1)
            assert f'"org.iris-envs.owner-pid":"{pid}"' in labels, labels  # dead, asked here
            dry = run_cli(["gc", "--dry-run"], cwd=root)
            gc = run_cli(["gc"], cwd=root)
            nudged = run_cli(["run", "-e", env, "--", "true"], cwd=root)  # collects orphans too
        finally:
            release.touch()
            _out, err = runner.communicate(timeout=120)
        for done in (dry, gc, nudged):
            assert done.returncode == 0, done.stdout + done.stderr
            assert name not in done.stdout + done.stderr  # never judged an orphan
        if runner.returncode == 0:
            break  # the run's container lived until its command ended
        # Removed by another session's collection (nothing here said so): try again.
    else:
        pytest.fail(f"another process removed the run's container in every attempt: {err}")
    assert run_containers(env) == []  # the run removed its own container
