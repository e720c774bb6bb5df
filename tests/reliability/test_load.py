"""Load (issue 14, "faults not tried yet"): 8 concurrent invocations mixing build, run, up, down
and gc on two shared environments. Every one passes or fails with a documented code, nothing is
left behind, and the snapshot index stays valid JSON."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import (
    MakeProject,
    docker,
    env_snapshot_refs,
    remove_env_artifacts,
    run_cli,
)

pytestmark = pytest.mark.docker

DOCUMENTED = {int(code) for code in ExitCode}


def test_eight_concurrent_mixed_invocations(
    make_project: MakeProject, standin_images: dict[str, str], isolated_cache: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    a, b = f"load-a-{tag}", f"load-b-{tag}"
    root = make_project(
        f'[env."{a}"]\nimage = "{standin_images["2024.1"]}"\npassword = "Pw-{tag}"\n'
        f'[env."{b}"]\nimage = "{standin_images["2025.1"]}"\npassword = "Pw-{tag}"\n'
        'setup = [{ shell = "sleep 1" }]\n'
    )
    invocations = [
        ["run", "-e", a, "--", "true"],
        ["run", "-e", a, "--", "true"],
        ["run", "-e", b, "--", "true"],
        ["run", "-e", f"{a},{b}", "-p", "2", "--", "true"],
        ["build", "-e", b],
        ["up", "-e", a],
        ["gc"],
        ["run", "-e", b, "--spares", "1", "--", "true"],
    ]
    try:
        with ThreadPoolExecutor(max_workers=len(invocations)) as pool:
            results = list(pool.map(lambda argv: run_cli(argv, root, timeout=300), invocations))
        for argv, done in zip(invocations, results, strict=True):
            assert done.returncode in DOCUMENTED, (argv, done.stderr)
            assert "Traceback" not in done.stderr, (argv, done.stderr)
            assert done.returncode == 0, (argv, done.stderr)  # nothing here should fail
        # Each key was built once: one snapshot per environment (plus its :latest tag).
        for env in (a, b):
            tags = [ref.rsplit(":", 1)[1] for ref in env_snapshot_refs(env)]
            assert sorted(tags)[-1] == "latest" and len(tags) == 2, (env, tags)
        down = run_cli(["down", "-e", a], root)
        spares = run_cli(["down", "--spares"], root)
        assert down.returncode == 0 and spares.returncode == 0
        left = (
            docker(
                "ps",
                "-aq",
                "--filter",
                f"label=org.iris-envs.env={a}",
            ).stdout.split()
            + docker("ps", "-aq", "--filter", f"label=org.iris-envs.env={b}").stdout.split()
        )
        assert left == []
        index = isolated_cache / "snapshots.json"
        assert isinstance(json.loads(index.read_text()), dict)
    finally:
        for env in (a, b):
            remove_env_artifacts(env)
