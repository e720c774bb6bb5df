"""A pristine namespace per test (issue 25), in real pytest subprocesses on the real engine: 20
tests that each write the same global and a table row, and assert neither was there at their
start, pass with a clone per test and fail when they share the namespace."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import cli_env, docker, remove_env_artifacts
from tests.integration.test_config_model import ORDERS, fixture

pytestmark = pytest.mark.docker

VERSION = "2025.1"

# Each test: nothing another test wrote is there at its start; the fixture's rows are, and the
# loaded class; then it writes the same global and adds a row to the same table.
MODULE = """
import pytest

{mark}

@pytest.mark.parametrize("n", range(20))
def test_write_the_same_things(n, {fixture}):
    seen = {fixture}.run_objectscript([
        'Write "G=",$Get(^Iso("x")),!',
        'Set c=##class(%SQL.Statement).%ExecDirect(,"SELECT COUNT(*) FROM Demo.Orders")',
        'Do c.%Next() Write "ROWS=",c.%GetData(1),!',
        'Write "THING=",##class(%Dictionary.ClassDefinition).%ExistsId("App.Thing"),!',
    ])
    assert "G=\\n" in seen + "\\n" and "G=written" not in seen, seen
    assert "ROWS=3" in seen, seen
    assert "THING=1" in seen, seen
    {fixture}.run_objectscript([
        'Set ^Iso("x")="written"',
        'Set s=##class(%SQL.Statement).%ExecDirect(,"INSERT INTO Demo.Orders (Name) VALUES (1)")',
    ])
"""


@dataclass
class Project:
    root: Path
    env: str

    def pytest(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "--iris-env",
                self.env,
                *args,
            ],
            cwd=self.root,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def module(self, fixture: str, mark: str = "", ini: str = "") -> None:
        (self.root / "tests" / "test_iso.py").write_text(MODULE.format(fixture=fixture, mark=mark))
        (self.root / "pytest.ini").write_text(f"[pytest]\ntestpaths = tests\n{ini}")


@pytest.fixture
def project(tmp_path: Path, standin_images: dict[str, str]) -> Iterator[Project]:
    env = f"iso-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "src" / "App").mkdir(parents=True)
    (root / "src" / "App" / "Thing.cls").write_text("Class App.Thing Extends %Persistent\n{\n}\n")
    for name, content in fixture(
        "fixtures/orders", ORDERS, [{"name": "Demo.Orders", "row_count": 3}]
    ).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    (root / "iris-envs.toml").write_text(
        f'[env."{env}"]\nimage = "{standin_images[VERSION]}"\nnamespace = "APP"\nclones = 3\n'
        f'password = "Pw-{env}"\n'
        'setup = [{ load = "src" }, { dat = "fixtures/orders" }]\n'
    )
    yield Project(root, env)
    remove_env_artifacts(env)


def summary(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr


def test_twenty_tests_in_their_own_clones_pass_and_sharing_the_namespace_fails(
    project: Project,
) -> None:
    project.module("iris_fresh")
    fresh = project.pytest("-q")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "20 passed" in summary(fresh)
    # The same module sharing the namespace: every test after the first sees the writes.
    project.module("iris_env")
    shared = project.pytest("-q")
    assert shared.returncode == 1, shared.stdout
    assert "19 failed, 1 passed" in summary(shared), summary(shared)


def test_the_marker_and_the_ini_option_make_iris_env_follow_the_clone(project: Project) -> None:
    project.module("iris_env", mark='pytestmark = pytest.mark.iris_isolation("namespace")')
    marked = project.pytest("-q")
    assert marked.returncode == 0, marked.stdout + marked.stderr
    assert "20 passed" in summary(marked)
    project.module("iris_env", ini="iris_isolation = namespace\n")
    ini = project.pytest("-q")
    assert ini.returncode == 0, ini.stdout + ini.stderr


def test_under_xdist_each_worker_has_its_own_clones(project: Project) -> None:
    project.module("iris_fresh")
    done = project.pytest("-q", "-n", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 passed" in summary(done)
    project.module("iris_env")
    shared = project.pytest("-q", "-n", "2")
    assert shared.returncode == 1  # two containers, each shared by its worker's tests


def test_workers_sharing_one_container_under_iris_envs_run_never_share_a_clone(
    project: Project,
) -> None:
    # Under `iris-envs run` every xdist worker reads the same IRIS_ENVS_CONTAINER: the pristine
    # copies are taken once, and each worker's clones get numbers no other worker has.
    project.module("iris_fresh")
    wrapped = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-n", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "iris_envs", "run", "-e", project.env, "--", *wrapped],
        cwd=project.root,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 passed" in summary(done), done.stdout


def test_a_failure_names_its_clone_and_a_kept_one_stays(project: Project) -> None:
    (project.root / "tests" / "test_iso.py").write_text(
        "def test_fails(iris_fresh):\n"
        '    iris_fresh.run_objectscript([\'Set ^Iso("x")="evidence"\'])\n'
        "    assert False\n"
    )
    (project.root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    done = project.pytest("-q")
    assert done.returncode == 1
    assert "the test ran in clone namespace APP_C" in done.stdout, done.stdout
    assert "--iris-keep-on-failure keeps it" in done.stdout
    kept = project.pytest("-q", "--iris-keep-on-failure")
    assert "kept as it was for inspection" in kept.stdout, kept.stdout
    container = docker(
        "ps", "-q", "--filter", f"label=org.iris-envs.env={project.env}"
    ).stdout.split()
    assert container, "the failed session's container is kept"
    namespace = kept.stdout.split("clone namespace ", 1)[1].split(",", 1)[0]
    script = 'Write "E=",$Get(^Iso("x")),!\nHalt\n'
    seen = subprocess.run(
        [
            "docker",
            "exec",
            "-i",
            "-u",
            "irisowner",
            container[0],
            "iris",
            "session",
            "IRIS",
            "-U",
            namespace,
        ],
        input=script,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "E=evidence" in seen
    for name in container:
        docker("rm", "-f", name, check=False)


def test_a_bad_isolation_mode_is_one_usage_error(project: Project) -> None:
    project.module("iris_env", mark='pytestmark = pytest.mark.iris_isolation("database")')
    done = project.pytest("-q")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "iris_isolation 'database' is not one of namespace" in done.stdout + done.stderr
