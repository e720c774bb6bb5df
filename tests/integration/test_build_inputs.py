"""What a build copies in is exactly what its key hashed (issue 14, items 5 and 6), on a real
engine: files edited during a build, and symlinks inside `load` directories."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import (
    MakeProject,
    container_events_since,
    docker,
    env_containers,
    env_snapshot_refs,
    popen_cli,
    remove_env_artifacts,
    run_cli,
    unique_env,
)
from tests.standin.build import build_slow_variant

pytestmark = pytest.mark.docker

VERSION = "2025.1"
SETUP_DIR = "/home/irisowner/iris-envs-setup"


@pytest.fixture
def env_name() -> Iterator[str]:
    env = unique_env("bi")
    yield env
    remove_env_artifacts(env)


def toml(env: str, image: str, setup: str) -> str:
    return (
        f'[env."{env}"]\nimage = "{image}"\npassword = "Pw{uuid.uuid4().hex}"\n'
        f"setup = [\n{setup}]\n"
    )


@pytest.mark.parametrize(
    ("setup", "edited"),
    [
        ('  { load = "src" },\n', "src/App/Thing.cls"),
        ('  { objectscript = "setup/first.script" },\n', "setup/first.script"),
        ('  { dat = "fixtures/orders" },\n', "fixtures/orders/IRIS.DAT"),
    ],
    ids=["load-directory", "objectscript-file", "dat-fixture"],
)
def test_an_input_edited_during_the_build_fails_it_and_nothing_is_tagged(
    make_project: MakeProject,
    standin_images: dict[str, str],
    env_name: str,
    setup: str,
    edited: str,
) -> None:
    # The edit lands after the key was computed ("building snapshot: ..." is printed once it
    # is) and before the file is copied: a `load` or `objectscript` file during setup, after a
    # slow start; a `dat` fixture right after the container is created, while IRIS starts, so
    # the edit is made before the container exists (at 2 GB/s, waiting for "start build
    # container" let the copy of even 64 MiB finish first under load).
    slow = build_slow_variant(VERSION, 4)
    dat = "IRIS.DAT of fixture 1111\n"
    if edited.endswith("IRIS.DAT"):
        dat += "0" * (64 * 1024 * 1024)
    manifest = {
        "schema_version": 1,
        "fixture_id": "orders",
        "version": "1",
        "description": "",
        "created_at": "2026-11-22T00:00:00Z",
        "iris_version": "2024.1",
        "source_namespace": "APP",
        "source_database": "APP",
        "files": [
            {
                "path": "IRIS.DAT",
                "size": len(dat),
                "sha256": "sha256:" + hashlib.sha256(dat.encode()).hexdigest(),
            }
        ],
        "tables": [],
        "features": {},
    }
    files = {
        "src/App/Thing.cls": "Class App.Thing {}\n",
        "setup/first.script": 'Write "v1",!\n',
        "fixtures/orders/IRIS.DAT": dat,
        "fixtures/orders/manifest.json": json.dumps(manifest),
    }
    root = make_project(toml(env_name, slow, setup), files)
    process = popen_cli(["build", "-e", env_name], cwd=root)
    assert process.stderr is not None
    seen = ""
    marker = "building snapshot:" if edited.endswith("IRIS.DAT") else "start build container"
    deadline = time.monotonic() + 60
    while marker not in seen and time.monotonic() < deadline:
        seen += process.stderr.readline()
    assert marker in seen, seen
    # Same size, other content: a size-based check alone would miss it. In place, so a copy
    # under way never sees the file shorter than its header says.
    path = root / edited
    edit = path.read_text().replace("1", "2").replace("Thing", "Thinx")
    with path.open("r+") as handle:
        handle.write(edit)
    _out, err = process.communicate(timeout=120)
    err = seen + err
    assert process.returncode == int(ExitCode.BUILD_FAILED), err
    assert f"{edited.split('/', maxsplit=1)[0]}" in err and "changed during the build" in err
    assert "Traceback" not in err
    assert env_snapshot_refs(env_name) == []
    assert env_containers(env_name) == []
    again = run_cli(["build", "-e", env_name], cwd=root, timeout=180)
    if edited.endswith("IRIS.DAT"):
        # A fixture's key is its manifest: the edited file no longer matches it (exit 2).
        assert again.returncode == int(ExitCode.CONFIG_ERROR), again.stderr
        assert "checksum mismatch" in again.stderr
    else:
        # The next build hashes the new content and succeeds.
        assert again.returncode == 0, again.stderr


def test_symlinks_inside_the_project_are_copied_as_their_content(
    make_project: MakeProject, standin_images: dict[str, str], env_name: str
) -> None:
    root = make_project(
        toml(env_name, standin_images[VERSION], '  { load = "src" },\n'),
        {"shared/Common.cls": "Class App.Common {}\n", "src/App/Thing.cls": "Class App.Thing {}\n"},
    )
    (root / "src" / "App" / "Common.cls").symlink_to(root / "shared" / "Common.cls")
    (root / "src" / "Linked").symlink_to(root / "shared", target_is_directory=True)
    done = run_cli(["build", "-e", env_name], cwd=root, timeout=180)
    assert done.returncode == 0, done.stderr
    ref = re.search(rf"{re.escape(env_name)}: (\S+) \(built\)", done.stdout)
    assert ref, done.stdout
    listing = docker(
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        ref.group(1),
        "-c",
        f"cd {SETUP_DIR}/step-1/src && find . -type l | wc -l"
        " && cat App/Common.cls Linked/Common.cls && stat -c %u App/Common.cls",
    ).stdout.splitlines()
    assert listing == ["0", "Class App.Common {}", "Class App.Common {}", "51773"], listing


@pytest.mark.parametrize("kind", ["outside", "dangling"])
def test_symlinks_that_leave_the_project_or_point_nowhere_are_config_errors(
    make_project: MakeProject,
    standin_images: dict[str, str],
    env_name: str,
    tmp_path: Path,
    kind: str,
) -> None:
    root = make_project(
        toml(env_name, standin_images[VERSION], '  { load = "src" },\n'),
        {"src/App/Thing.cls": "Class App.Thing {}\n"},
    )
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("not for the snapshot\n")
    target = secret if kind == "outside" else root / "src" / "missing.cls"
    (root / "src" / "App" / "Link.cls").symlink_to(target)
    since = time.time()
    done = run_cli(["build", "-e", env_name], cwd=root, timeout=120)
    assert done.returncode == int(ExitCode.CONFIG_ERROR), done.stderr
    assert "Link.cls" in done.stderr and "Traceback" not in done.stderr
    reason = "outside the project" if kind == "outside" else "does not exist"
    assert reason in done.stderr
    # Refused before any container was created.
    events = container_events_since(env_name, since)
    assert events.strip() == ""
    # `key` and `explain` report the same error instead of hashing the outside file.
    assert run_cli(["key", env_name], cwd=root).returncode == int(ExitCode.CONFIG_ERROR)
