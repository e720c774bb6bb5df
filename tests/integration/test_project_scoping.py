"""`up`, `run --reuse` and `down` are scoped by project and refuse stale containers (issue 14,
defects 1 and 2), on a real engine."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
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


def up_container(result: subprocess.CompletedProcess[str]) -> str:
    """The IRIS_ENVS_CONTAINER line `up` printed."""
    for line in result.stdout.splitlines():
        if line.startswith("IRIS_ENVS_CONTAINER="):
            return line.split("=", 1)[1]
    raise AssertionError(result.stdout + result.stderr)


def reused_container(root: Path, env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        ["run", "--reuse", "-e", env, "--", "sh", "-c", 'echo "C=$IRIS_ENVS_CONTAINER"'], root
    )


@pytest.fixture
def shared_env() -> Iterator[str]:
    env = unique_env("scope")
    yield env
    remove_env_artifacts(env)


def project(make_project: MakeProject, image: str, env: str, name: str, password: str) -> Path:
    return make_project(f'[env."{env}"]\nimage = "{image}"\npassword = "{password}"\n', name=name)


def test_two_projects_with_the_same_env_name_never_share_an_up_container(
    make_project: MakeProject, standin_images: dict[str, str], shared_env: str
) -> None:
    image = standin_images[VERSION]
    a = project(make_project, image, shared_env, "a", f"Pa{uuid.uuid4().hex}")
    b = project(make_project, image, shared_env, "b", f"Pb{uuid.uuid4().hex}")
    up_a = run_cli(["up", "-e", shared_env], a, timeout=180)
    up_b = run_cli(["up", "-e", shared_env], b, timeout=180)
    assert up_a.returncode == 0 and up_b.returncode == 0, up_a.stderr + up_b.stderr
    container_a, container_b = up_container(up_a), up_container(up_b)
    assert container_a != container_b
    # Each project's --reuse gets its own container (and so its own database and password).
    assert f"C={container_b}" in reused_container(b, shared_env).stdout
    assert f"C={container_a}" in reused_container(a, shared_env).stdout
    # `down` in B removes only B's container.
    down = run_cli(["down"], b)
    assert down.returncode == 0, down.stderr
    assert docker("inspect", container_b, check=False).returncode != 0
    assert docker("inspect", "-f", "{{.State.Running}}", container_a).stdout.strip() == "true"
    assert run_cli(["down", "--all-projects", "-e", shared_env], b).returncode == 0
    assert docker("inspect", container_a, check=False).returncode != 0


def test_reuse_refuses_an_up_container_of_an_old_snapshot_and_up_replaces_it(
    make_project: MakeProject, standin_images: dict[str, str], shared_env: str
) -> None:
    root = project(make_project, standin_images[VERSION], shared_env, "p", "First-pw-1")
    first = run_cli(["up", "-e", shared_env], root, timeout=180)
    assert first.returncode == 0, first.stderr
    old = up_container(first)
    # A new password: the container's test user no longer has the password the test would get.
    toml = root / "iris-envs.toml"
    toml.write_text(toml.read_text().replace("First-pw-1", "Second-pw-2"))
    refused = reused_container(root, shared_env)
    assert refused.returncode == int(ExitCode.CONFIG_ERROR), refused.stdout + refused.stderr
    assert (
        "password changed" in refused.stderr and f"iris-envs up -e {shared_env}" in refused.stderr
    )
    assert "Traceback" not in refused.stderr and "Second-pw-2" not in refused.stderr
    # `up` replaces the stale container; --reuse then uses the new one.
    second = run_cli(["up", "-e", shared_env], root, timeout=180)
    assert second.returncode == 0, second.stderr
    assert "replacing it" in second.stderr
    new = up_container(second)
    assert new != old and docker("inspect", old, check=False).returncode != 0
    assert f"C={new}" in reused_container(root, shared_env).stdout
    assert run_cli(["down", "-e", shared_env], root).returncode == 0


def test_gc_removes_untagged_snapshot_images_that_no_container_uses(
    make_project: MakeProject, standin_images: dict[str, str], shared_env: str
) -> None:
    # `build --rebuild` leaves the previous snapshot untagged when a container still used it
    # (issue 14, defect 9): the engine refused its removal then, and gc takes it once it is free.
    root = project(make_project, standin_images[VERSION], shared_env, "p", "Gc-pw-1")
    assert run_cli(["build", "-e", shared_env], root, timeout=180).returncode == 0
    user = docker("create", f"{snapshot_repo(shared_env, root)}:latest").stdout.strip()
    assert run_cli(["build", "-e", shared_env, "--rebuild"], root, timeout=180).returncode == 0
    docker("rm", user)

    def images(*flags: str) -> set[str]:
        return set(
            docker(
                "images",
                "-q",
                "--no-trunc",
                *flags,
                "--filter",
                f"label=org.iris-envs.env={shared_env}",
            ).stdout.split()
        )

    untagged = images("--filter", "dangling=true")
    assert len(untagged) == 1, untagged
    tagged = images() - untagged
    gc = run_cli(["gc"], root)
    assert gc.returncode == 0 and "removed untagged snapshot image" in gc.stdout, gc.stdout
    assert images() == tagged  # the current snapshot stays


def test_gc_leaves_the_untagged_image_of_a_build_that_is_still_running(
    make_project: MakeProject, standin_images: dict[str, str], shared_env: str, tmp_path: Path
) -> None:
    """Between its commit and its tag a build's image is untagged and unused; another
    project's `gc` must leave it to the build, and remove it once the build's process is gone."""
    root = project(make_project, standin_images[VERSION], shared_env, "p", "Gc-pw-2")
    assert run_cli(["build", "-e", shared_env], root, timeout=180).returncode == 0
    snapshot = f"{snapshot_repo(shared_env, root)}:latest"
    built_by = docker(
        "inspect", "-f", '{{index .Config.Labels "org.iris-envs.built-by"}}', snapshot
    )
    host, _, pid = built_by.stdout.strip().rpartition(":")
    assert host and pid.isdigit(), built_by.stdout  # who built it: the CLI process, now gone
    # An image as a running build leaves it right after `docker commit`: untagged, unused, and
    # labelled with a live builder's host:pid.
    builder = subprocess.Popen(["sleep", "300"])
    try:
        (tmp_path / "Dockerfile").write_text(
            f"FROM {snapshot}\nLABEL org.iris-envs.built-by={host}:{builder.pid}\n"
        )
        image_id = tmp_path / "id"
        docker("build", "-q", "--iidfile", str(image_id), str(tmp_path))
        in_flight = image_id.read_text().strip()
        assert run_cli(["gc"], root).returncode == 0
        assert docker("image", "inspect", in_flight, check=False).returncode == 0, "gc removed it"
    finally:
        builder.kill()
        builder.wait()
    gc = run_cli(["gc"], root)
    assert gc.returncode == 0 and "removed untagged snapshot image" in gc.stdout, gc.stdout
    assert docker("image", "inspect", in_flight, check=False).returncode != 0
