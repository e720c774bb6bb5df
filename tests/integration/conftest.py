"""Integration helpers: write throw-away iris-envs projects, run the CLI, clean up snapshots."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.private_engine import private_engine

__all__ = ["private_engine"]  # a private dockerd (tests/private_engine.py), for every test here

REPO_ROOT = Path(__file__).resolve().parents[2]
MANAGED = "org.iris-envs.managed=true"

# make_project(toml_text, files={relative path: text or bytes}) -> project root
MakeProject = Callable[..., Path]


def docker(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI (tests look at the engine independently of the product's adapter).

    A listing is asked again when Podman cut it short: before 4.6 it fails one when another
    process removes an image meanwhile ("image not known"; podman PR #18980), as another xdist
    worker's cleanup does. The product's adapter does the same (engine/images.py)."""
    for _ in range(5):
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout
        )
        if done.returncode == 0 or args[0] not in ("images", "ps"):
            break
        time.sleep(0.2)  # any failed listing: the CLI's message for this case varies by version
    if check:
        done.check_returncode()
    return done


def derived_image(
    base: str, tag: str, labels: Mapping[str, str] | None = None, run: str | None = None
) -> str:
    """``docker build`` an image FROM ``base`` with ``labels`` (and one RUN line), tagged ``tag``;
    return its ID. Tests make poisoned or lying snapshots with it (issue 22)."""
    dockerfile = f"FROM {base}\n" + (f"RUN {run}\n" if run else "")
    flags = [
        arg for name, value in (labels or {}).items() for arg in ("--label", f"{name}={value}")
    ]
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, *flags, "-"],
        input=dockerfile,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        # The classic builder: the CLI here has no buildx plugin (as tests/standin/build.py).
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )
    return docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()


def image_labels(ref: str) -> dict[str, str]:
    """The labels of an image, as the engine reports them."""
    import json

    done = docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref)
    return dict(json.loads(done.stdout) or {})


def container_events_since(env_name: str, since: float) -> str:
    """The engine's container events of one environment from ``since`` until now ('' if none)."""
    import time

    return docker(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{time.time():.3f}",
        "--filter",
        "type=container",
        "--filter",
        f"label=org.iris-envs.env={env_name}",
    ).stdout.strip()


def unique_env(prefix: str = "it") -> str:
    """A fresh environment name, so parallel tests and engineers never share a snapshot repo."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a CLI subprocess: this test's cache folder, plain progress lines."""
    env = dict(os.environ)
    env["CI"] = "true"  # plain lines (no rich live display), as in a CI log
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m iris_envs ARGS`` in ``cwd``; ``env`` adds to (not replaces) os.environ."""
    return subprocess.run(
        [sys.executable, "-m", "iris_envs", *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def popen_cli(
    args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``python -m iris_envs ARGS`` without waiting (for signals and concurrency tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "iris_envs", *args],
        cwd=cwd,
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def snapshot_repo(env_name: str, project_root: Path) -> str:
    """The Docker repository holding one project's snapshots of an environment."""
    from iris_envs.naming import project_repository

    return project_repository(project_root, env_name)


def env_snapshot_refs(env_name: str) -> list[str]:
    """Every ``repository:tag`` of an environment's snapshots, in any project (test
    environments have unique names) and under the project-independent name."""
    from iris_envs.naming import env_component

    refs: list[str] = []
    for pattern in (
        f"iris-envs/*/{env_component(env_name)}",
        f"iris-envs/{env_component(env_name)}",
    ):
        refs += docker(
            "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={pattern}"
        ).stdout.split()
    return sorted(refs)


def env_containers(env_name: str) -> list[str]:
    """Ids of every iris-envs managed container (any state) of one environment."""
    return docker(
        "ps",
        "-aq",
        "--filter",
        f"label={MANAGED}",
        "--filter",
        f"label=org.iris-envs.env={env_name}",
    ).stdout.split()


def remove_env_artifacts(env_name: str) -> None:
    """Remove an environment's containers and every image of its snapshot repository."""
    containers = env_containers(env_name)
    if containers:
        docker("rm", "-f", *containers, check=False)
    refs = env_snapshot_refs(env_name)
    ids = {
        docker("image", "inspect", "-f", "{{.Id}}", ref, check=False).stdout.strip() for ref in refs
    }
    if refs:
        docker("rmi", "-f", *refs, check=False)
    # Untagged leftovers (a failed build's commit) are found by the env label.
    ids |= set(
        docker(
            "images", "-q", "--filter", f"label=org.iris-envs.env={env_name}", check=False
        ).stdout.split()
    )
    ids.discard("")
    if ids:
        docker("rmi", "-f", *ids, check=False)


@pytest.fixture
def env_cleanup() -> Iterator[Callable[[str], str]]:
    """Register environment names; their containers and snapshot images are removed afterwards."""
    names: list[str] = []

    def register(name: str) -> str:
        names.append(name)
        return name

    yield register
    for name in names:
        remove_env_artifacts(name)


def write_project(
    root: Path, toml_text: str, files: Mapping[str, str | bytes] | None = None
) -> Path:
    """Write ``root/iris-envs.toml`` and ``files`` (relative path -> str or bytes); return root."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "iris-envs.toml").write_text(toml_text, encoding="utf-8")
    for relative, content in (files or {}).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write ``iris-envs.toml`` (and any extra files) into a fresh folder and return the folder.

    ``files`` maps paths relative to the project root to str or bytes content; parents are made.
    Call it again with another ``name`` for a second project in the same test.
    """

    def make(
        toml_text: str, files: Mapping[str, str | bytes] | None = None, name: str = "project"
    ) -> Path:
        return write_project(tmp_path / name, toml_text, files)

    return make


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, to fill up or remount read-only (needs root, as CI has)."""
    if os.geteuid() != 0:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI must run as root to test a full or read-only folder")
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)
