"""`@pytest.mark.iris_fixtures` (issue 10 item 5) in real pytest subprocesses on the real engine:
a test module's extra .DAT fixtures come from a derived snapshot, never loaded at test time."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import cli_env, docker, remove_env_artifacts, snapshot_repo

pytestmark = pytest.mark.docker

DATA = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes of known content

MARKED_TEST = """\
import json, os, pathlib, subprocess

import pytest

pytestmark = pytest.mark.iris_fixtures("fixtures/orders")


def inside(iris_env, script):
    return subprocess.run(["docker", "exec", iris_env.container, "sh", "-c", script],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_fixture_is_in_place(iris_env):
    out = pathlib.Path(os.environ["OUT_DIR"]) / "marked.json"
    out.write_text(json.dumps({
        "env": iris_env.env,
        "container": iris_env.container,
        "sha": inside(iris_env, "sha256sum /usr/irissys/mgr/orders/IRIS.DAT").split()[0],
        "owner": inside(iris_env, "stat -c %u:%g /usr/irissys/mgr/orders/IRIS.DAT"),
        "image": subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}",
                                 iris_env.container], check=True, capture_output=True,
                                text=True).stdout.strip(),
    }))
"""

PLAIN_TEST = """\
import json, os, pathlib, subprocess


def test_base_has_no_fixture(iris_env):
    found = subprocess.run(["docker", "exec", iris_env.container, "test", "-e",
                            "/usr/irissys/mgr/orders/IRIS.DAT"]).returncode == 0
    out = pathlib.Path(os.environ["OUT_DIR"]) / "plain.json"
    out.write_text(json.dumps({"env": iris_env.env, "found": found}))
"""


@dataclass
class Project:
    root: Path
    out: Path
    env: str

    def pytest(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
            cwd=self.root,
            env=cli_env({"OUT_DIR": str(self.out)}),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def result(self, name: str) -> dict[str, object]:
        return dict(json.loads((self.out / f"{name}.json").read_text()))

    def snapshot_images(self) -> list[str]:
        """ID and name of every image of this environment and its derived environments (not of
        other tests', which may build and remove images meanwhile under pytest-xdist)."""
        listed = docker("images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}")
        mine = snapshot_repo(self.env, self.root)
        return sorted(
            line
            for line in listed.stdout.splitlines()
            if line.split(" ", 1)[1].startswith((mine + ":", mine + ".fx-"))
        )

    def derived_images(self) -> list[str]:
        listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        return [
            ref for ref in listed if ref.startswith(snapshot_repo(self.env, self.root) + ".fx-")
        ]


def write_fixture(folder: Path, data: bytes = DATA) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "IRIS.DAT").write_bytes(data)
    manifest = {
        "schema_version": 1,
        "fixture_id": "orders",
        "version": "1",
        "description": "known bytes",
        "created_at": "2026-11-22T12:00:00Z",
        "iris_version": "2024.1.0.262.0",
        "source_namespace": "USER",
        "source_database": "ORDERS",
        "files": [
            {
                "path": "IRIS.DAT",
                "size": len(data),
                "sha256": "sha256:" + hashlib.sha256(data).hexdigest(),
            }
        ],
        "tables": [],
        "features": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture
def project(tmp_path: Path, standin_images: dict[str, str]) -> Iterator[Project]:
    env = f"fm-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text(f"[pytest]\ntestpaths = tests\niris_env = {env}\n")
    (root / "tests" / "test_marked.py").write_text(MARKED_TEST)
    (root / "tests" / "test_plain.py").write_text(PLAIN_TEST)
    (root / "iris-envs.toml").write_text(
        f'[env."{env}"]\nimage = "{standin_images["2025.1"]}"\nnamespace = "APP"\n'
    )
    write_fixture(root / "fixtures" / "orders")
    out = tmp_path / "out"
    out.mkdir()
    made = Project(root, out, env)
    yield made
    for ref in made.derived_images():
        remove_env_artifacts(ref.rsplit(":", 1)[0].rsplit("/", 1)[1])  # iris-envs/<project>/<env>
    remove_env_artifacts(env)


def test_marked_module_gets_the_fixture_from_a_derived_snapshot_and_the_rest_does_not(
    project: Project,
) -> None:
    first = project.pytest()
    assert first.returncode == 0, first.stdout + first.stderr
    marked, plain = project.result("marked"), project.result("plain")
    assert marked["sha"] == hashlib.sha256(DATA).hexdigest()
    assert marked["owner"] == "51773:51773"
    assert plain == {"env": project.env, "found": False}
    # The data came from a snapshot built FROM the environment's snapshot, not loaded at test time.
    derived = project.derived_images()
    assert derived, "no derived snapshot image"
    assert marked["env"] != project.env and str(marked["env"]).startswith(project.env + ".fx-")
    assert str(marked["image"]).split(":")[0] == snapshot_repo(str(marked["env"]), project.root)
    base_id = docker(
        "image", "inspect", "-f", "{{.Id}}", f"{snapshot_repo(project.env, project.root)}:latest"
    )
    history = docker("history", "-q", "--no-trunc", derived[0]).stdout.split()
    assert base_id.stdout.strip() in history, "the derived snapshot is not built on the base one"
    # A second session reuses both snapshots: nothing is built again.
    images_before = project.snapshot_images()
    assert len(images_before) == 4  # key and latest tags of the snapshot and the derived one
    second = project.pytest("-s")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "building snapshot" not in second.stderr + second.stdout
    assert project.snapshot_images() == images_before


def test_a_changed_fixture_byte_fails_the_marked_tests_with_the_file_named(
    project: Project,
) -> None:
    dat = project.root / "fixtures" / "orders" / "IRIS.DAT"
    flipped = bytearray(DATA)
    flipped[1000] ^= 0xFF
    dat.write_bytes(bytes(flipped))
    done = project.pytest("tests/test_marked.py")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "checksum mismatch" in output and "IRIS.DAT" in output, output
    assert "Traceback" not in output and "another exception occurred" not in output, output
    assert not project.derived_images()


def test_a_marker_path_outside_the_project_is_refused_with_a_clear_error(
    project: Project,
) -> None:
    write_fixture(project.root.parent / "elsewhere")
    (project.root / "tests" / "test_marked.py").write_text(
        MARKED_TEST.replace('"fixtures/orders"', '"../elsewhere"')
    )
    done = project.pytest("tests/test_marked.py")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "outside the project" in output and "../elsewhere" in output, output
    assert "Traceback" not in output, output
