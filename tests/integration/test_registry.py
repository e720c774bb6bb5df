"""A real registry as the remote snapshot cache: push, pull the exact key, build only on a miss."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from iris_envs.key.cache_key import canonical_json
from iris_envs.naming import LABEL_INPUTS, LABEL_KEY, snapshot_repository
from tests.integration.conftest import (
    derived_image,
    docker,
    env_snapshot_refs,
    image_labels,
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


def build_events(env: str, since: float, until: float, role: str = "build") -> list[str]:
    """Engine events of build (or verify) containers of ``env`` in a time window."""
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
        f"label=org.iris-envs.role={role}",
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
    # ...but the pulled snapshot was started once and logged into before its first use.
    assert "start" in build_events(env, since, until, role="verify")
    assert "verify pulled snapshot" in ran.stderr
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


def push_as(registry: str, image: str, env: str, key: str) -> None:
    """Publish ``image`` under the registry tag of ``env``'s snapshot of ``key`` (as anyone who
    can push to the registry could)."""
    remote = f"{registry}/{snapshot_repository(env)}:{key}"
    docker("tag", image, remote)
    try:
        docker("push", remote, timeout=120)
    finally:
        docker("rmi", remote)


def local_tags(env: str, root: Path) -> list[str]:
    """The tags of the project's snapshots of ``env``; there are none under any other name (a
    pull tags only the pulling project's repository, never ``iris-envs/<env>``)."""
    repo = snapshot_repo(env, root)
    tags = sorted(docker("images", "--format", "{{.Tag}}", repo).stdout.split())
    assert sorted(env_snapshot_refs(env)) == [f"{repo}:{tag}" for tag in tags]
    return tags


def assert_refused(
    registry: str, env: str, root: Path, cache: dict[str, str], *, expected: str, name: str
) -> None:
    """`cache pull` and `run --no-build` refuse the registry's image: exit 5 naming what did
    not match, the command never runs, nothing is tagged and the pulled name is gone."""
    pulled = run_cli(["cache", "pull", env, "--registry", registry], root, cache, 180)
    assert pulled.returncode == ExitCode.BUILD_FAILED, (name, pulled.stderr)
    assert expected in pulled.stderr and "Traceback" not in pulled.stderr, (name, pulled.stderr)
    marker = root / "ran"
    command = ["run", "-e", env, "--registry", registry, "--no-build", "--", "touch", str(marker)]
    ran = run_cli(command, root, cache, 180)
    assert ran.returncode == ExitCode.BUILD_FAILED, (name, ran.stderr)
    assert expected in ran.stderr and "refused" in ran.stderr, (name, ran.stderr)
    assert not marker.exists(), name  # nothing ran in it
    assert local_tags(env, root) == [], name  # nothing tagged
    assert registry not in docker("images", "--format", "{{.Repository}}").stdout


def test_poisoned_registry_images_are_refused_and_nothing_runs_in_them(
    registry: str,
    standin_images: dict[str, str],
    tmp_path: Path,
    env_cleanup: Callable[[str], str],
) -> None:
    """Issue 22 item 1: an image under the key's tag whose labels claim the key is used only when
    its layers extend the base, its recorded inputs hash to the key, its recipe version is this
    iris-envs' one, and it passes the verify step (boot, readiness, login)."""
    env = env_cleanup(unique_env("poison"))
    root = write_project(
        tmp_path / "p",
        toml(env, standin_images["2025.1"]),
        {"setup/data.script": 'Write "one",!\n'},
    )
    cache = {"IRIS_ENVS_CACHE_DIR": str(tmp_path / "cache")}
    keep = f"poison-{env}"  # the honest images stay alive under this name while poisons derive
    try:
        script = root / "setup/data.script"
        keys = {}
        for text in ("two", "one"):  # another key's honest snapshot, then the current key's
            script.write_text(f'Write "{text}",!\n', encoding="utf-8")
            assert run_cli(["build", "-e", env], root, cache, 300).returncode == 0
            keys[text] = run_cli(["key", env], root, cache).stdout.strip()
            docker("tag", f"{snapshot_repo(env, root)}:{keys[text][:12]}", f"{keep}:{text}")
        key = keys["one"]
        labels = image_labels(f"{keep}:one")
        inputs = json.loads(labels[LABEL_INPUTS])
        poisons = {
            # Other content (another key's snapshot) relabelled with this key.
            "inputs": (
                derived_image(f"{keep}:two", f"{keep}:p-inputs", {LABEL_KEY: key}),
                "hash to",
            ),
            # Every label of the honest snapshot, on an image of another base.
            "layers": (
                derived_image(standin_images["2024.1"], f"{keep}:p-layers", labels),
                "do not extend",
            ),
            # Recorded inputs of another recipe version.
            "recipe": (
                derived_image(
                    f"{keep}:one",
                    f"{keep}:p-recipe",
                    {LABEL_INPUTS: canonical_json({**inputs, "recipe": 0})},
                ),
                "recipe version 0",
            ),
            # Labels, inputs and layers all right, but the test user cannot log in.
            "login": (
                derived_image(
                    f"{keep}:one", f"{keep}:p-login", run=": > /usr/irissys/mgr/.standin/users"
                ),
                "verif",
            ),
        }
        docker("rmi", *(f"{snapshot_repo(env, root)}:{tag}" for tag in local_tags(env, root)))
        for name, (image, expected) in poisons.items():
            push_as(registry, image, env, key)
            assert_refused(registry, env, root, cache, expected=expected, name=name)
        marker = root / "ran"
        # Without --no-build the refusal is a warning and the snapshot is built here.
        built = run_cli(
            ["run", "-e", env, "--registry", registry, "--", "touch", str(marker)], root, cache, 300
        )
        assert built.returncode == 0, built.stderr
        assert "refused" in built.stderr and "snapshot built" in built.stderr
        assert marker.exists()
    finally:  # derived images first: an image with children cannot be removed
        refs = docker("images", "--format", "{{.Repository}}:{{.Tag}}", keep).stdout.split()
        refs.sort(key=lambda ref: not ref.split(":")[1].startswith("p-"))
        if refs:
            docker("rmi", "-f", *refs, check=False)


def test_a_foreign_image_under_the_key_tag_is_refused_and_never_removed(
    registry: str,
    standin_images: dict[str, str],
    tmp_path: Path,
    env_cleanup: Callable[[str], str],
) -> None:
    """Issue 22 item 2: the base image itself pushed under the key's tag is no snapshot; the
    refusal removes only the tag the pull made, never the image (here: the base)."""
    env = env_cleanup(unique_env("foreign"))
    base = standin_images["2025.1"]
    root = write_project(tmp_path / "p", toml(env, base), {"setup/data.script": 'Write "x",!\n'})
    cache = {"IRIS_ENVS_CACHE_DIR": str(tmp_path / "cache")}
    key = run_cli(["key", env], root, cache).stdout.strip()
    base_id = docker("image", "inspect", "--format", "{{.Id}}", base).stdout.strip()
    push_as(registry, base, env, key)

    pulled = run_cli(["cache", "pull", env, "--registry", registry], root, cache, 180)
    assert pulled.returncode == ExitCode.BUILD_FAILED, pulled.stderr
    assert "not an iris-envs snapshot" in pulled.stderr and "Traceback" not in pulled.stderr
    assert docker("image", "inspect", "--format", "{{.Id}}", base).stdout.strip() == base_id
    assert local_tags(env, root) == []

    ran = run_cli(["run", "-e", env, "--registry", registry, "--", "true"], root, cache, 300)
    assert ran.returncode == 0, ran.stderr
    assert "not an iris-envs snapshot" in ran.stderr and "snapshot built" in ran.stderr
    assert docker("image", "inspect", "--format", "{{.Id}}", base).stdout.strip() == base_id
