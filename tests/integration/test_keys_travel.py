"""Keys that travel: two clones of one project in different folders compute the same keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import run_cli, write_project

pytestmark = pytest.mark.docker

TOML = """\
default = ["a", "b"]
[env.a]
image = "{image}"
setup = [{{ objectscript = "setup/a.script" }}, {{ load = "src" }}]
[env.b]
image = "{image}"
namespace = "APP"
"""
FILES = {"setup/a.script": 'Write "a",!\n', "src/App/Thing.cls": "Class App.Thing {}\n"}


def test_two_clones_with_their_own_cache_folders_print_the_same_keys(
    tmp_path: Path, standin_images: dict[str, str]
) -> None:
    toml = TOML.format(image=standin_images["2025.1"])
    clones = [write_project(tmp_path / name / "checkout", toml, FILES) for name in ("one", "two")]
    keys = []
    for clone in clones:
        cache = clone.parent / "cache"
        printed = []
        for env in ("a", "b"):
            done = run_cli(["key", env], clone, env={"IRIS_ENVS_CACHE_DIR": str(cache)})
            assert done.returncode == 0, done.stderr
            printed.append(done.stdout.strip())
        keys.append(printed)
        assert not (cache / "secrets").exists()
    assert keys[0] == keys[1]
    assert all(len(key) == 64 for key in keys[0])


def test_an_old_corrupt_secrets_file_is_left_untouched_by_every_command(
    tmp_path: Path, standin_images: dict[str, str]
) -> None:
    """Issue 14 item 14: nothing replaces (or even writes) a stored secrets file."""
    project = write_project(tmp_path / "p", TOML.format(image=standin_images["2025.1"]), FILES)
    cache = tmp_path / "cache"
    secrets = cache / "secrets"
    secrets.mkdir(parents=True)
    corrupt = secrets / "0123456789abcdef01234567.json"
    corrupt.write_bytes(b'{"passwords": {"a": "trunc')
    before = corrupt.read_bytes(), corrupt.stat().st_mtime_ns
    env = {"IRIS_ENVS_CACHE_DIR": str(cache)}
    first = run_cli(["key", "a"], project, env=env)
    for args in (["list"], ["config", "a"], ["key", "b", "--offline"], ["matrix"]):
        done = run_cli(args, project, env=env)
        assert done.returncode == 0, (args, done.stderr)
    assert (corrupt.read_bytes(), corrupt.stat().st_mtime_ns) == before
    assert sorted(p.name for p in secrets.iterdir()) == [corrupt.name]
    assert run_cli(["key", "a"], project, env=env).stdout == first.stdout
