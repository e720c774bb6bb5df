"""The pytest plugin (issue 9) in real pytest subprocesses against the real engine."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import (
    cli_env,
    docker,
    env_snapshot_refs,
    remove_env_artifacts,
    run_cli,
)

pytestmark = pytest.mark.docker

SAMPLE_TEST = """\
import json, os, pathlib, subprocess


def record(iris_env, name):
    out = pathlib.Path(os.environ["OUT_DIR"]) / f"{name}-{iris_env.env}.json"
    out.write_text(json.dumps({
        "env": iris_env.env, "host": iris_env.host, "namespace": iris_env.namespace,
        "username": iris_env.username, "port": iris_env.port, "container": iris_env.container,
        "connection_string": iris_env.connection_string.split(":")[0],
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
    }))


def mark(iris_env, name):
    # Write into this test's container, then read back everything written there.
    subprocess.run(["docker", "exec", iris_env.container, "sh", "-c",
                    f"echo {name} >> /tmp/marks"], check=True)
    seen = subprocess.run(["docker", "exec", iris_env.container, "cat", "/tmp/marks"],
                          check=True, capture_output=True, text=True).stdout.split()
    out = pathlib.Path(os.environ["OUT_DIR"]) / f"marks-{name}.json"
    out.write_text(json.dumps({"container": iris_env.container, "seen": seen,
                               "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}))


def test_values(iris_env):
    record(iris_env, "values")


def test_one(iris_env):
    mark(iris_env, "one")


def test_two(iris_env):
    mark(iris_env, "two")


def test_three(iris_env):
    mark(iris_env, "three")


def test_four(iris_env):
    mark(iris_env, "four")
"""


@dataclass
class Sample:
    root: Path
    out: Path
    envs: tuple[str, str]

    def pytest(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=self.root,
            env=cli_env({"OUT_DIR": str(self.out)}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def results(self, prefix: str) -> list[dict[str, object]]:
        return [json.loads(p.read_text()) for p in sorted(self.out.glob(f"{prefix}*.json"))]

    def containers(self) -> list[str]:
        return [
            c
            for env in self.envs
            for c in docker(
                "ps", "-aq", "--filter", f"label=org.iris-envs.env={env}"
            ).stdout.split()
        ]


@pytest.fixture
def sample(tmp_path: Path, standin_images: dict[str, str]) -> Iterator[Sample]:
    tag = uuid.uuid4().hex[:6]
    envs = (f"pa-{tag}", f"pb-{tag}")
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    (root / "tests" / "test_sample.py").write_text(SAMPLE_TEST)
    (root / "iris-envs.toml").write_text(
        f'[env."{envs[0]}"]\nimage = "{standin_images["2024.1"]}"\npassword = "Pw-{tag}"\n'
        f'[env."{envs[1]}"]\nimage = "{standin_images["2025.1"]}"\npassword = "Pw-{tag}"\n'
    )
    out = tmp_path / "out"
    out.mkdir()
    yield Sample(root, out, envs)
    for env in envs:
        remove_env_artifacts(env)


def comparable(result: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in result.items() if k not in ("container", "port", "worker")}


def test_the_same_file_sees_the_same_values_under_run_and_under_plain_pytest(
    sample: Sample,
) -> None:
    env = sample.envs[0]
    under_run = run_cli(
        [
            "run",
            "-e",
            env,
            "--",
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-k",
            "values",
        ],
        sample.root,
        {"OUT_DIR": str(sample.out)},
        timeout=300,
    )
    assert under_run.returncode == 0, under_run.stdout + under_run.stderr
    [via_run] = sample.results("values")
    (sample.out / f"values-{env}.json").unlink()

    plain = sample.pytest("--iris-env", env, "-k", "values")  # not -q: it hides the header
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert f"iris-envs: environment(s) {env}" in plain.stdout  # the report header
    [via_plugin] = sample.results("values")
    assert comparable(via_run) == comparable(via_plugin)
    assert via_plugin["env"] == env and via_plugin["host"] == "127.0.0.1"
    assert sample.containers() == []  # the plugin removed its container at the end


def test_several_environments_run_every_test_once_each(sample: Sample) -> None:
    done = sample.pytest("--iris-env", ",".join(sample.envs), "-v", "-k", "values")
    assert done.returncode == 0, done.stdout + done.stderr
    for env in sample.envs:
        assert f"test_values[{env}] PASSED" in done.stdout
    assert sorted(r["env"] for r in sample.results("values")) == sorted(sample.envs)
    assert sample.containers() == []


def test_xdist_workers_get_their_own_containers_and_one_build(sample: Sample) -> None:
    pytest.importorskip("xdist")
    env = sample.envs[1]
    done = sample.pytest("--iris-env", env, "-n", "2", "-q", "-k", "not values")
    assert done.returncode == 0, done.stdout + done.stderr
    marks = sample.results("marks-")
    assert len(marks) == 4
    by_worker: dict[object, set[object]] = {}
    for m in marks:
        by_worker.setdefault(m["worker"], set()).add(m["container"])
    assert len(by_worker) == 2 and all(len(c) == 1 for c in by_worker.values()), by_worker
    containers = [next(iter(c)) for c in by_worker.values()]
    assert containers[0] != containers[1]  # workers never share an instance
    for m in marks:  # each container saw only the marks of its own worker's tests
        same_worker = {
            name
            for other in marks
            if other["worker"] == m["worker"]
            for name in other["seen"]  # type: ignore[attr-defined]
        }
        assert set(m["seen"]) <= same_worker  # type: ignore[arg-type]
    tags = env_snapshot_refs(env)
    assert len(tags) == 2, tags  # exactly one snapshot (its key tag and latest)
    assert sample.containers() == []


def test_sigint_during_an_xdist_run_leaves_no_container(sample: Sample) -> None:
    pytest.importorskip("xdist")
    import os
    import signal
    import time

    env = sample.envs[0]
    (sample.root / "tests" / "test_slow.py").write_text(
        "import pathlib, os, time\n\n"
        "def test_slow_a(iris_env):\n"
        "    (pathlib.Path(os.environ['OUT_DIR']) / f'up-{iris_env.container}').touch()\n"
        "    time.sleep(120)\n\n"
        "def test_slow_b(iris_env):\n"
        "    (pathlib.Path(os.environ['OUT_DIR']) / f'up-{iris_env.container}').touch()\n"
        "    time.sleep(120)\n"
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--iris-env",
            env,
            "-n",
            "2",
            "-q",
            "-k",
            "slow",
        ],
        cwd=sample.root,
        env=cli_env({"OUT_DIR": str(sample.out)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while len(list(sample.out.glob("up-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list(sample.out.glob("up-*"))) == 2  # both workers have their container
    os.kill(process.pid, signal.SIGINT)
    process.communicate(timeout=120)
    assert sample.containers() == []  # each worker removed its own on the way out


FAILING_TEST = """\
import subprocess


def test_fails(iris_env):
    subprocess.run(["docker", "exec", iris_env.container, "sh", "-c", "echo evidence > /tmp/e"],
                   check=True)
    assert False, "on purpose"
"""


def test_keep_on_failure_keeps_the_failed_sessions_container_with_the_way_in(
    sample: Sample,
) -> None:
    env = sample.envs[0]
    (sample.root / "tests" / "test_sample.py").write_text(FAILING_TEST)
    plain = sample.pytest("-q", f"--iris-env={env}")
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert sample.containers() == []  # without the option nothing is kept
    kept = sample.pytest("-q", f"--iris-env={env}", "--iris-keep-on-failure")
    try:
        assert kept.returncode == 1, kept.stdout + kept.stderr
        [container] = sample.containers()
        name = docker("inspect", "-f", "{{.Name}}", container).stdout.strip().lstrip("/")
        assert name.startswith("iris-envs-kept-"), name
        output = kept.stdout + kept.stderr
        assert f"kept container {name}" in output and "iris session IRIS" in output, output
        # The failed test's state is still there to look at.
        assert docker("exec", container, "cat", "/tmp/e").stdout.strip() == "evidence"
    finally:
        for container in sample.containers():
            docker("rm", "-f", container, check=False)


FRESH_TEST = """\
import json, os, pathlib


def test_fresh(iris_env, fresh_iris_env):
    out = pathlib.Path(os.environ["OUT_DIR"]) / "fresh.json"
    out.write_text(json.dumps({
        "shared": iris_env.container, "fresh": fresh_iris_env.container,
        "env": fresh_iris_env.env, "port": fresh_iris_env.port, "shared_port": iris_env.port,
    }))
"""


def test_fresh_iris_env_is_another_container_of_the_same_env_removed_after_the_test(
    sample: Sample,
) -> None:
    env = sample.envs[0]
    (sample.root / "tests" / "test_sample.py").write_text(FRESH_TEST)
    done = sample.pytest(f"--iris-env={env}")  # not -q: the report header is shown
    assert done.returncode == 0, done.stdout + done.stderr
    # The report header names the environment(s) the plugin will start.
    assert f"iris-envs: environment(s) {env} (started before the first test" in done.stdout
    [result] = sample.results("fresh")
    assert result["env"] == env
    assert result["fresh"] != result["shared"] and result["port"] != result["shared_port"]
    assert sample.containers() == []  # both removed


WORLD_TEST = """\
import json, os, pathlib

import pytest


@pytest.fixture(scope="session")
def app_settings():
    # Application code configured once per session from the environment, as under `run`.
    return {"dsn": os.environ.get("IRIS_CONNECTION_STRING"), "env": os.environ.get("IRIS_ENVS_ENV")}


def test_app_code_sees_the_variables(app_settings):
    out = pathlib.Path(os.environ["OUT_DIR"]) / f"world-{os.environ.get('IRIS_ENVS_ENV')}.json"
    out.write_text(json.dumps({**app_settings, "port": os.environ.get("IRIS_PORT")}))


def test_the_fixture_and_the_variables_agree(iris_env):
    assert os.environ["IRIS_ENVS_ENV"] == iris_env.env
    assert os.environ["IRIS_CONNECTION_STRING"] == iris_env.connection_string
    assert os.environ["IRIS_PASSWORD"] == iris_env.password


def test_objectscript_returns_what_it_wrote(iris_env):
    written = iris_env.run_objectscript(['Write "ns=",$NAMESPACE', 'Write ",",!,"second"'])
    assert written == "ns=USER,\\nsecond", repr(written)
"""


def test_one_iris_env_exports_its_variables_for_the_session(sample: Sample) -> None:
    """Issue 23 item 4: application code under `pytest --iris-env NAME` reads the same IRIS_*
    variables as under `iris-envs run`, and run_objectscript returns only what was written."""
    env = sample.envs[0]
    (sample.root / "tests" / "test_world.py").write_text(WORLD_TEST)
    done = sample.pytest("--iris-env", env, "-q", "tests/test_world.py")
    assert done.returncode == 0, done.stdout + done.stderr
    [seen] = sample.results("world-")
    assert seen["env"] == env
    assert str(seen["dsn"]).startswith("127.0.0.1:") and str(seen["dsn"]).endswith("/USER")
    assert str(seen["dsn"]).split(":")[1].startswith(str(seen["port"]))
    assert sample.containers() == []


def test_several_iris_envs_export_each_tests_own_environment(sample: Sample) -> None:
    (sample.root / "tests" / "test_world.py").write_text(WORLD_TEST)
    done = sample.pytest("--iris-env", ",".join(sample.envs), "-v", "tests/test_world.py")
    assert done.returncode == 0, done.stdout + done.stderr
    for env in sample.envs:
        assert f"test_the_fixture_and_the_variables_agree[{env}] PASSED" in done.stdout
    # A test without the fixture has no one environment: nothing is exported for it.
    assert [r["env"] for r in sample.results("world-")] == [None]


def test_an_unknown_iris_env_is_one_usage_error_before_any_test(sample: Sample) -> None:
    typo = sample.envs[0][:-1] + "x"
    done = sample.pytest("--iris-env", typo, "-q")
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    output = done.stdout + done.stderr
    assert output.count(f"unknown environment {typo!r}") == 1, output
    assert f"did you mean {sample.envs[0]!r}" in output
    assert "passed" not in output and "error" not in done.stdout.lower(), output
    assert "Traceback" not in output
