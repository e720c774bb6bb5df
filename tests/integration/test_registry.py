"""A real registry as the remote snapshot cache: push, pull the exact key, build only on a miss."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from iris_envs.naming import snapshot_repository
from tests.integration.conftest import (
    docker,
    env_snapshot_refs,
    run_cli,
    snapshot_repo,
    unique_env,
    write_project,
)
from tests.integration.local_registry import local_registry

pytestmark = pytest.mark.docker

PRINT_PORT = [sys.executable, "-c", "import os; print('port=' + os.environ['IRIS_PORT'])"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


def toml(env: str, image: str) -> str:
    return f'[env."{env}"]\nimage = "{image}"\nsetup = [{{ objectscript = "setup/data.script" }}]\n'


def build_events(env: str, since: float, until: float) -> list[str]:
    """Engine events of build containers of ``env`` in a time window."""
    done = docker(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{until:.3f}",
        "--filter",
        "type=container",
        "--filter",
        f"label=org.iris-envs.env={env}",
        "--filter",
        "label=org.iris-envs.role=build",
        "--format",
        "{{.Action}}",
    )
    return done.stdout.split()


def registry_tags(registry: str, env: str) -> list[str]:
    import urllib.request

    url = f"http://{registry}/v2/{snapshot_repository(env)}/tags/list"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return sorted(json.loads(answer.read())["tags"] or [])


def test_push_then_run_pulls_the_exact_key_without_building(
    registry: str,
    standin_images: dict[str, str],
    tmp_path: Path,
    env_cleanup: Callable[[str], str],
) -> None:
    env = env_cleanup(unique_env("reg"))
    root = write_project(
        tmp_path / "p",
        toml(env, standin_images["2025.1"]),
        {"setup/data.script": 'Set ^X=1\nWrite "one",!\n'},
    )
    cache = {"IRIS_ENVS_CACHE_DIR": str(tmp_path / "cache")}
    built = run_cli(["build", "-e", env, "--registry", registry, "--push"], root, cache, 300)
    assert built.returncode == 0, built.stderr
    assert f"{env}: " in built.stdout and "(built)" in built.stdout
    key = run_cli(["key", env], root, cache).stdout.strip()
    assert registry_tags(registry, env) == [key]  # the FULL key is the tag: exact match only

    # A fresh machine: no local snapshot at all.
    removed = run_cli(["cache", "rm", env], root, cache)
    assert removed.returncode == 0, removed.stderr
    assert env_snapshot_refs(env) == []

    since = time.time()
    ran = run_cli(
        ["run", "-e", env, "--registry", registry, "--no-build", "--", *PRINT_PORT], root, cache
    )
    until = time.time() + 0.5
    assert ran.returncode == 0, ran.stderr
    assert "port=" in ran.stdout and "snapshot pulled" in ran.stderr
    assert build_events(env, since, until) == []  # no build container was even created
    assert docker("images", "--format", "{{.Tag}}", snapshot_repo(env, root)).stdout.split()
    # The registry-named tag is not left behind locally.
    assert registry not in docker("images", "--format", "{{.Repository}}").stdout

    # A changed input file: another key, a registry miss, then a local build.
    (root / "setup/data.script").write_text('Set ^X=2\nWrite "two",!\n', encoding="utf-8")
    missed = run_cli(
        ["run", "-e", env, "--registry", registry, "--no-build", "--", *PRINT_PORT], root, cache
    )
    assert missed.returncode == ExitCode.BUILD_FAILED, missed.stderr
    assert "registry miss" in missed.stderr
    since = time.time()
    rebuilt = run_cli(
        ["run", "-e", env, "--registry", "127.0.0.1:9/nowhere", "--", *PRINT_PORT], root, cache, 300
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "snapshot built" in rebuilt.stderr
    assert "unavailable, building instead" in rebuilt.stderr  # an unreachable registry warns
    assert "start" in build_events(env, since, time.time() + 0.5)


def test_registry_options_are_validated(tmp_path: Path, registry: str) -> None:
    root = write_project(tmp_path / "p", '[env.a]\nimage = "x:1"\n')
    bad = run_cli(["build", "--registry", "https://user:pw@host/x"], root)
    assert bad.returncode == ExitCode.CONFIG_ERROR and "invalid registry" in bad.stderr
    assert "pw@" not in bad.stderr.replace("https://user:pw@host/x", "")
    push = run_cli(["build", "--push"], root, {"IRIS_ENVS_REGISTRY": ""})
    assert push.returncode == ExitCode.CONFIG_ERROR and "--push needs a registry" in push.stderr
    env_bad = run_cli(["cache", "pull", "a"], root, {"IRIS_ENVS_REGISTRY": "UPPER/Case"})
    assert env_bad.returncode == ExitCode.CONFIG_ERROR and "IRIS_ENVS_REGISTRY" in env_bad.stderr
    config = write_project(tmp_path / "q", '[cache]\nregistry = "a b"\n[env.a]\nimage = "x:1"\n')
    conf_bad = run_cli(["list"], config)
    assert conf_bad.returncode == ExitCode.CONFIG_ERROR and "cache.registry" in conf_bad.stderr
    unknown = write_project(tmp_path / "r", '[cache]\npassword = "x"\n[env.a]\nimage = "x:1"\n')
    assert run_cli(["list"], unknown).returncode == ExitCode.CONFIG_ERROR


def test_cache_pull_of_a_missing_key_fails_and_tags_nothing(
    registry: str, standin_images: dict[str, str], tmp_path: Path
) -> None:
    env = unique_env("regmiss")
    root = write_project(
        tmp_path / "p",
        toml(env, standin_images["2025.1"]),
        {"setup/data.script": 'Write "x",!\n'},
    )
    done = run_cli(["cache", "pull", env, "--registry", registry], root)
    assert done.returncode == ExitCode.FAILED
    assert "not in the registry (exact key)" in done.stderr
    assert env_snapshot_refs(env) == []
