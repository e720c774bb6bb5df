"""Projects never touch each other's cache (issue 23, item 6), on a real engine: `cache prune`,
`cache rm`, `cache ls`, `status` and `doctor` see only the current project unless told
`--all-projects`; two projects with the same environment name and key share one image that
neither can remove from under the other; `gc` removes only what is provably dead."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from iris_envs.naming import project_id
from tests.integration.conftest import (
    MakeProject,
    docker,
    remove_env_artifacts,
    run_cli,
    snapshot_repo,
    unique_env,
)

pytestmark = pytest.mark.docker

VERSION = "2025.1"


@pytest.fixture
def shared_env() -> Iterator[str]:
    env = unique_env("cs")
    yield env
    remove_env_artifacts(env)


def project(make_project: MakeProject, image: str, env: str, name: str, step: str) -> Path:
    """A project with one environment ``env`` whose key depends on ``step`` alone."""
    return make_project(
        f'[env."{env}"]\nimage = "{image}"\npassword = "Scope-pw-1"\n'
        f'setup = [{{ shell = "{step}" }}]\n',
        name=name,
    )


def tags_of(root: Path, env: str) -> list[str]:
    repo = snapshot_repo(env, root)
    return sorted(docker("images", "--format", "{{.Tag}}", repo).stdout.split())


def image_id(ref: str) -> str:
    return docker("image", "inspect", "-f", "{{.Id}}", ref).stdout.strip()


def cli_ok(args: list[str], root: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    done = run_cli(args, root, timeout=timeout)
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def test_prune_rm_ls_status_and_doctor_see_only_this_project(
    make_project: MakeProject, standin_images: dict[str, str], shared_env: str
) -> None:
    image = standin_images[VERSION]
    other = project(make_project, image, shared_env, "other", "echo other-v1")
    cli_ok(["build", "-e", shared_env], other)
    make_project(  # the other project moves on: its first snapshot is now stale
        f'[env."{shared_env}"]\nimage = "{image}"\npassword = "Scope-pw-1"\n'
        'setup = [{ shell = "echo other-v2" }]\n',
        name="other",
    )
    cli_ok(["build", "-e", shared_env], other)
    theirs = tags_of(other, shared_env)
    assert len(theirs) == 3, theirs  # two keys and latest
    mine = project(make_project, image, shared_env, "mine", "echo mine")
    cli_ok(["build", "-e", shared_env], mine)  # the newest snapshot of that name, engine-wide

    # `cache prune --keep 1` here: the other project's older snapshot is not this one's.
    pruned = cli_ok(["cache", "prune", "--keep", "1"], mine)
    assert tags_of(other, shared_env) == theirs, pruned.stdout
    assert "0 snapshot(s)" in pruned.stdout
    # `cache rm ENV` here removes only this project's snapshot of ENV.
    assert shared_env in cli_ok(["cache", "ls"], mine).stdout
    removed = cli_ok(["cache", "rm", shared_env], mine)
    assert f"removed {snapshot_repo(shared_env, mine)}:" in removed.stdout
    assert tags_of(mine, shared_env) == [] and tags_of(other, shared_env) == theirs

    # `cache ls` lists this project's snapshots; --all-projects every project's, by project.
    listed = json.loads(cli_ok(["cache", "ls", "--json"], mine).stdout)
    assert [row for row in listed if row["env"] == shared_env] == []
    everything = json.loads(cli_ok(["cache", "ls", "--json", "--all-projects"], mine).stdout)
    rows = [row for row in everything if row["env"] == shared_env]
    assert {row["project"] for row in rows} == {project_id(other)}
    assert {row["project_root"] for row in rows} == {str(other)} and len(rows) == 2
    table = cli_ok(["cache", "ls", "--all-projects"], mine).stdout
    assert "project" in table.splitlines()[0] and str(other) in table
    assert "of other projects: `iris-envs cache ls --all-projects`" in (
        cli_ok(["cache", "ls"], mine).stdout
    )

    # `doctor` here counts only this project's stale snapshots (it has none now).
    checks = {c["check"]: c for c in json.loads(cli_ok(["doctor", "--json"], mine).stdout)}
    assert checks["stale snapshots"]["status"] == "pass", checks["stale snapshots"]
    checks = {c["check"]: c for c in json.loads(cli_ok(["doctor", "--json"], other).stdout)}
    stale = checks["stale snapshots"]
    assert stale["status"] == "warn" and f"{shared_env} (1)" in stale["detail"], stale
    assert "this project's" in stale["fix"]

    # `status` lists this project's containers; --all-projects every project's, by project.
    up = cli_ok(["up", "-e", shared_env], other)
    try:
        assert "no containers managed by iris-envs of this project" in (
            cli_ok(["status"], mine).stdout
        )
        assert json.loads(cli_ok(["status", "--json"], mine).stdout) == []
        rows = json.loads(cli_ok(["status", "--json", "--all-projects"], mine).stdout)
        assert [r["project"] for r in rows if r["env"] == shared_env] == [str(other)]
        assert [r["env"] for r in json.loads(cli_ok(["status", "--json"], other).stdout)] == [
            shared_env
        ]
    finally:
        cli_ok(["down", "-e", shared_env], other)
    assert up.returncode == 0
    # Widened on purpose, prune reaches every project, still per project and environment.
    pruned = cli_ok(["cache", "prune", "--keep", "1", "--all-projects"], mine)
    assert len(tags_of(other, shared_env)) == 2, pruned.stdout  # its newest key and latest


def test_two_projects_with_the_same_env_name_and_key_share_one_image_that_neither_removes(
    make_project: MakeProject, standin_images: dict[str, str], shared_env: str
) -> None:
    image = standin_images[VERSION]
    first = project(make_project, image, shared_env, "first", "echo same")
    second = project(make_project, image, shared_env, "second", "echo same")
    cli_ok(["build", "-e", shared_env], first)
    key = cli_ok(["key", shared_env], first).stdout.strip()
    assert cli_ok(["key", shared_env], second).stdout.strip() == key  # same inputs, same key
    # The second project does not build again: it names the first one's image as its own too.
    shared = cli_ok(["build", "-e", shared_env], second)
    assert "shared with" in shared.stderr and "(built)" not in shared.stdout, shared.stderr
    ref_1 = f"{snapshot_repo(shared_env, first)}:{key[:12]}"
    ref_2 = f"{snapshot_repo(shared_env, second)}:{key[:12]}"
    assert image_id(ref_1) == image_id(ref_2)
    listed = json.loads(cli_ok(["cache", "ls", "--json"], second).stdout)
    assert [r["shared_with"] for r in listed] == [
        sorted([ref_1, ref_1.split(":", maxsplit=1)[0] + ":latest"])
    ]

    # Removing it in one project untags it there only: the other still runs from it.
    removed = cli_ok(["cache", "rm", shared_env], second)
    assert f"untagged {ref_2} (the image stays" in removed.stdout
    assert docker("image", "inspect", ref_2, check=False).returncode != 0
    cli_ok(["run", "-e", shared_env, "--no-build", "--", "true"], first)
    # ...and the same the other way round, with prune.
    cli_ok(["build", "-e", shared_env], second)  # shared again, no build
    cli_ok(["cache", "prune", "--keep", "0"], first)
    assert docker("image", "inspect", ref_1, check=False).returncode != 0
    cli_ok(["run", "-e", shared_env, "--no-build", "--", "true"], second)
    # A rebuild in one project never moves the other project's names.
    before = image_id(ref_2)
    cli_ok(["build", "-e", shared_env], first)  # shared once more
    rebuilt = cli_ok(["build", "-e", shared_env, "--rebuild"], first, timeout=240)
    assert "(built)" in rebuilt.stdout
    assert image_id(ref_1) != before and image_id(ref_2) == before
    # The last project's removal removes the image itself.
    removed = cli_ok(["cache", "rm", shared_env], second)
    assert f"removed {ref_2}" in removed.stdout
    assert docker("image", "inspect", before, check=False).returncode != 0


def test_gc_leaves_a_spare_its_own_project_still_keeps(
    standin_images: dict[str, str], shared_env: str
) -> None:
    """Another project's spare is judged by that project's `spare_max_age` (carried on the
    spare), not by the default: gc removes only spares no run of theirs would ever use."""
    hours = 3600

    def spare(age_hours: float, max_age_hours: float) -> str:
        labels = {
            "org.iris-envs.managed": "true",
            "org.iris-envs.role": "spare",
            "org.iris-envs.env": shared_env,
            "org.iris-envs.project": "/elsewhere/another-project",
            "org.iris-envs.owner-host": "another-host",
            "org.iris-envs.owner-pid": "1",
            "org.iris-envs.spare-since": str(int(time.time() - age_hours * hours)),
            "org.iris-envs.spare-max-age": str(max_age_hours * hours),
        }
        flags = [arg for k, v in labels.items() for arg in ("--label", f"{k}={v}")]
        name = f"iris-envs-spare-{shared_env}-{uuid.uuid4().hex[:10]}"
        docker("create", "--name", name, *flags, standin_images[VERSION])
        return name

    kept = spare(age_hours=30, max_age_hours=48)  # older than the default 24 h, within its 48 h
    gone = spare(age_hours=50, max_age_hours=48)  # past its own limit
    try:
        done = run_cli(["gc"], Path.cwd())
        assert done.returncode == 0, done.stderr
        assert docker("inspect", kept, check=False).returncode == 0, done.stdout
        assert docker("inspect", gone, check=False).returncode != 0, done.stdout
        assert f"removed {gone}" in done.stdout and kept not in done.stdout
    finally:
        docker("rm", "-f", kept, gone, check=False)
