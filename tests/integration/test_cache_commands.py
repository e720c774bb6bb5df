"""`cache export/import` and `cache prune` (issue 11) on the real engine."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import (
    MakeProject,
    docker,
    env_snapshot_refs,
    remove_env_artifacts,
    run_cli,
    snapshot_repo,
)

pytestmark = pytest.mark.docker


@pytest.fixture
def env_project(make_project: MakeProject, standin_images: dict[str, str]) -> Iterator[Path]:
    env = f"cc-{uuid.uuid4().hex[:8]}"
    root = make_project(
        f'[env."{env}"]\nimage = "{standin_images["2025.1"]}"\npassword = "Pw-cache"\n'
        'setup = [{ objectscript = "setup.script" }]\n',
        {"setup.script": 'Write "v1",!\n'},
        name=env,
    )
    yield root
    remove_env_artifacts(env)


def env_of(root: Path) -> str:
    return root.name


def repo_tags(env: str) -> list[str]:
    """The tags of the environment's snapshots, in any project or under the project-independent
    name (so a name left behind by export or import shows up twice)."""
    return sorted(ref.rsplit(":", 1)[1] for ref in env_snapshot_refs(env))


def test_export_import_round_trip_and_a_truncated_archive(
    env_project: Path, tmp_path: Path
) -> None:
    env = env_of(env_project)
    assert run_cli(["build", "-e", env], env_project, timeout=180).returncode == 0
    archive = tmp_path / "snapshot.tar.gz"
    exported = run_cli(["cache", "export", env, "-o", str(archive)], env_project, timeout=180)
    assert exported.returncode == 0, exported.stderr
    with gzip.open(archive) as handle:  # really a gzip'd docker save archive
        assert handle.read(512)
    tags = repo_tags(env)
    remove_env_artifacts(env)
    assert repo_tags(env) == []

    # A truncated archive fails cleanly and tags nothing.
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    broken = run_cli(["cache", "import", str(truncated)], env_project, timeout=180)
    assert broken.returncode != 0 and "Traceback" not in broken.stderr, broken.stderr
    assert repo_tags(env) == []

    imported = run_cli(["cache", "import", str(archive)], env_project, timeout=180)
    assert imported.returncode == 0, imported.stderr
    key_tags = [t for t in tags if t != "latest"]
    assert [t for t in repo_tags(env) if t != "latest"] == key_tags  # the key's tag is back
    ran = run_cli(["run", "-e", env, "--no-build", "--", "true"], env_project, timeout=180)
    assert ran.returncode == 0, ran.stderr  # the imported snapshot is the current key's


def test_prune_keeps_the_newest_dry_run_removes_nothing_and_in_use_images_stay(
    env_project: Path,
) -> None:
    env = env_of(env_project)
    script = env_project / "setup.script"
    refs = []
    for version in ("v1", "v2", "v3"):  # three keys of one environment
        script.write_text(f'Write "{version}",!\n')
        built = run_cli(["build", "-e", env], env_project, timeout=180)
        assert built.returncode == 0, built.stderr
        [new] = set(repo_tags(env)) - {"latest", *refs}  # the tag this build added
        refs.append(new)
    tags = repo_tags(env)
    assert len(tags) == 4  # three keys and latest
    # A stopped container of the OLDEST snapshot: its image must never be removed.
    holder = docker("create", f"{snapshot_repo(env, env_project)}:{refs[0]}").stdout.strip()
    try:
        dry = run_cli(["cache", "prune", "--keep", "1", "--dry-run"], env_project)
        assert dry.returncode == 0, dry.stderr
        assert repo_tags(env) == tags  # nothing removed
        pruned = run_cli(["cache", "prune", "--keep", "1"], env_project)
        assert pruned.returncode == 0, pruned.stderr
        left = repo_tags(env)
        assert refs[2] in left and "latest" in left, (refs, left)  # the newest stays
        assert refs[1] not in left  # an older, unused one went
        assert refs[0] in left  # in use by a container: kept
    finally:
        docker("rm", "-f", holder, check=False)


def test_import_of_a_foreign_file_is_a_clear_error(env_project: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "not-a-snapshot.tar.gz"
    foreign.write_bytes(gzip.compress(b"hello, not a docker archive\n"))
    done = run_cli(["cache", "import", str(foreign)], env_project)
    assert done.returncode in (int(ExitCode.CONFIG_ERROR), int(ExitCode.FAILED)), done.stderr
    assert "Traceback" not in done.stderr and "iris-envs: error:" in done.stderr
