"""Integration tests of run/up/down/status/gc on a real Docker engine with the stand-in IRIS."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

LABEL_ENV = "org.iris-envs.env"
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider")

# The sample project's test: log in over the stand-in superserver with the IRIS_* variables.
LOGIN_TEST = textwrap.dedent(
    """
    import os
    import socket


    def login():
        address = (os.environ["IRIS_HOST"], int(os.environ["IRIS_PORT"]))
        with socket.create_connection(address, timeout=10) as sock:
            stream = sock.makefile("rw")
            banner = stream.readline().split()
            user, pw = os.environ["IRIS_USERNAME"], os.environ["IRIS_PASSWORD"]
            stream.write(f"LOGIN {user} {pw} {os.environ['IRIS_NAMESPACE']}\\n")
            stream.flush()
            return banner, stream.readline().strip()


    def test_login():
        banner, answer = login()
        print("BANNER-VERSION", os.environ["IRIS_ENVS_ENV"], banner[1])
        assert banner[0] == "IRIS-STANDIN"
        assert answer.startswith("OK "), answer
    """
)

FAILING_TEST = textwrap.dedent(
    """
    def test_fails():
        assert 1 + 1 == 3
    """
)

# Run with -p 2: proves both containers are alive at once, then writes lines slowly so that
# interleaved (unbuffered) output would be visible.
PARALLEL_TEST = textwrap.dedent(
    """
    import os
    import subprocess
    import time
    from pathlib import Path

    from test_login import login


    def test_concurrent():
        me, other = os.environ["IRIS_ENVS_ENV"], os.environ["OTHER_ENVS"].split(",")
        banner, answer = login()
        assert answer.startswith("OK "), answer
        print("BANNER-VERSION", me, banner[1], flush=True)
        Path("alive", me).write_text(os.environ["IRIS_ENVS_CONTAINER"])
        others = [Path("alive", name) for name in other if name != me]
        deadline = time.monotonic() + 60
        while not all(p.exists() and p.read_text() for p in others):
            assert time.monotonic() < deadline, "the other environment never ran concurrently"
            time.sleep(0.1)
        for path in others:
            state = subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Running}}", path.read_text()],
                capture_output=True, text=True, check=True,
            ).stdout.strip()
            assert state == "true", (path, state)
        print("BOTH-ALIVE", me, flush=True)
        for i in range(10):
            print(f"LINE {me} {i}", flush=True)
            time.sleep(0.02)
    """
)


@dataclass
class Project:
    """A temporary sample project with unique environment names."""

    root: Path
    envs: dict[str, str]  # env name -> stand-in version
    password: str
    cache_dir: Path

    @property
    def env(self) -> str:
        return next(iter(self.envs))

    def cli(
        self, *args: str, timeout: float = 120, check_secret: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m iris_envs ARGS`` in the project; the password never shows up."""
        done = subprocess.run(
            [sys.executable, "-m", "iris_envs", *args],
            cwd=self.root,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check_secret:
            assert_no_secret(self.password, done.stdout, done.stderr)
        return done

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start the CLI in its own session (so its children can be cleaned up by group)."""
        return subprocess.Popen(
            [sys.executable, "-m", "iris_envs", *args],
            cwd=self.root,
            env=self.environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def environ(self) -> dict[str, str]:
        environ = dict(os.environ)
        environ["IRIS_ENVS_CACHE_DIR"] = str(self.cache_dir)
        environ.pop("NO_COLOR", None)
        return environ


def assert_no_secret(password: str, *texts: str) -> None:
    for text in texts:
        assert password not in text


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=60
    ).stdout


def containers_of(env: str, *, all_states: bool = True) -> list[str]:
    flags = ["-aq"] if all_states else ["-q"]
    return docker("ps", *flags, "--filter", f"label={LABEL_ENV}={env}").split()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    """Wait for the runner, end what is left of its process group (a killed runner's `sleep`
    still holds the pipes), then collect its output."""
    try:
        process.wait(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    return stdout, stderr


@pytest.fixture
def run_project(
    standin_images: dict[str, str], isolated_cache: Path, tmp_path: Path
) -> Iterator[Callable[..., Project]]:
    """Write an iris-envs.toml with fresh env names; remove their containers and images after."""
    created: list[str] = []

    def make(*versions: str) -> Project:
        suffix = uuid.uuid4().hex[:8]
        envs = {f"rt{version.replace('.', '')}-{suffix}": version for version in versions}
        password = f"Pw{uuid.uuid4().hex[:12]}"
        root = tmp_path / f"project-{suffix}"
        (root / "tests").mkdir(parents=True)
        (root / "empty").mkdir()
        (root / "failing").mkdir()
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / "tests" / "test_login.py").write_text(LOGIN_TEST)
        (root / "failing" / "test_fail.py").write_text(FAILING_TEST)
        config = [
            f'[env."{name}"]\nimage = "{standin_images[version]}"\npassword = "{password}"\n'
            for name, version in envs.items()
        ]
        (root / "iris-envs.toml").write_text("\n".join(config))
        created.extend(envs)
        return Project(root, envs, password, isolated_cache)

    yield make

    leftovers = {}
    for env in created:
        ids = containers_of(env)
        if ids:
            leftovers[env] = ids
            docker("rm", "-f", *ids)
        images = docker("images", "-q", f"iris-envs/{env}").split()
        if images:
            docker("rmi", "-f", *set(images))
    assert not leftovers, f"containers left behind: {leftovers}"


def test_run_passes_fails_and_passes_pytest_codes_through(
    run_project: Callable[..., Project],
) -> None:
    project = run_project("2025.1")
    env = project.env

    ok = project.cli("run", "-e", env, "--report", "ok.json", "--", *PYTEST, "-s", "tests")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"BANNER-VERSION {env} 2025.1" in ok.stdout
    assert "1 passed" in ok.stdout
    assert containers_of(env) == []

    failing = project.cli("run", "-e", env, "--report", "fail.json", "--", *PYTEST, "failing")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "1 failed" in failing.stdout
    assert containers_of(env) == []

    empty = project.cli("run", "-e", env, "--", *PYTEST, "empty")
    assert empty.returncode == 5, empty.stdout + empty.stderr
    assert "no tests ran" in empty.stdout
    assert containers_of(env) == []

    for name, status, code, state in (
        ("ok.json", "passed", 0, "built"),
        ("fail.json", "failed", 1, "cached"),
    ):
        text = (project.root / name).read_text()
        assert_no_secret(project.password, text)
        report = json.loads(text)
        assert report["exit_code"] == code
        [entry] = report["environments"]
        assert entry["env"] == env
        assert entry["status"] == status
        assert entry["exit_code"] == code
        assert entry["snapshot"]["state"] == state
        assert entry["snapshot"]["ref"].startswith(f"iris-envs/{env}:")
        assert set(entry["seconds"]) == {"snapshot", "start", "command"}
        assert all(isinstance(v, float) and v >= 0 for v in entry["seconds"].values())


def test_two_versions_run_concurrently_without_interleaving(
    run_project: Callable[..., Project],
) -> None:
    project = run_project("2024.1", "2025.1")
    (project.root / "alive").mkdir()
    (project.root / "tests" / "test_parallel.py").write_text(PARALLEL_TEST)
    names = list(project.envs)
    environ_args = ("-e", ",".join(names), "-p", "2", "--report", "r.json")
    env_cmd = ("env", f"OTHER_ENVS={','.join(names)}")
    done = project.cli(
        "run", *environ_args, "--", *env_cmd, *PYTEST, "-s", "tests/test_parallel.py"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name, version in project.envs.items():
        assert f"BANNER-VERSION {name} {version}" in done.stdout
        assert f"BOTH-ALIVE {name}" in done.stdout
        assert containers_of(name) == []

    # Each environment's block is contiguous: its lines only appear under its own header.
    owner = None
    for line in done.stdout.splitlines():
        if line.startswith("===== ") and line.endswith(": output ====="):
            owner = line.removeprefix("===== ").removesuffix(": output =====")
            assert owner in names
            continue
        for name in names:
            if name in line:
                assert owner == name, f"{line!r} printed in the block of {owner}"
    headers = [line for line in done.stdout.splitlines() if line.startswith("===== ")]
    assert sorted(headers) == sorted(f"===== {n}: output =====" for n in names)

    report = json.loads((project.root / "r.json").read_text())
    assert {e["env"]: e["status"] for e in report["environments"]} == dict.fromkeys(names, "passed")


def _start_sleeper(project: Project, *extra: str) -> subprocess.Popen[str]:
    """A runner whose commands record their container, then sleep; returns once all sleep."""
    tag = uuid.uuid4().hex[:6]
    started = {env: project.root / f"started-{tag}-{env}" for env in project.envs}
    tmp = f"started-{tag}.$IRIS_ENVS_ENV.tmp"
    final = f"started-{tag}-$IRIS_ENVS_ENV"
    script = f'echo "$IRIS_ENVS_CONTAINER" > {tmp} && mv {tmp} {final} && exec sleep 60'
    selection = ",".join(project.envs)
    process = project.popen("run", "-e", selection, *extra, "--", "sh", "-c", script)

    def all_sleeping() -> bool:
        return all(p.exists() for p in started.values()) or process.poll() is not None

    try:
        wait_for(all_sleeping, 90, "the commands")
    except BaseException:
        finish(process, timeout=5)
        raise
    if process.poll() is not None:
        stdout, stderr = finish(process)
        pytest.fail(f"runner exited early ({process.returncode}): {stdout}{stderr}")
    for env, path in started.items():
        assert containers_of(env, all_states=False) == [path.read_text().strip()[:12]]
    return process


@pytest.mark.parametrize("versions", [("2025.1",), ("2024.1", "2025.1")], ids=["one", "p2"])
def test_sigint_stops_the_commands_and_removes_the_containers(
    run_project: Callable[..., Project], versions: tuple[str, ...]
) -> None:
    project = run_project(*versions)
    process = _start_sleeper(project, "-p", str(len(versions)), "--report", "r.json")
    os.kill(process.pid, signal.SIGINT)
    stdout, stderr = finish(process, timeout=30)
    assert process.returncode == 130, stdout + stderr
    assert_no_secret(project.password, stdout, stderr)
    for env in project.envs:
        assert containers_of(env) == []
    report = json.loads((project.root / "r.json").read_text())
    assert report["exit_code"] == 130
    assert [e["status"] for e in report["environments"]] == ["interrupted"] * len(versions)


def test_keep_keeps_the_container(run_project: Callable[..., Project]) -> None:
    project = run_project("2025.1")
    done = project.cli("run", "-e", project.env, "--keep", "--report", "r.json", "--", "true")
    assert done.returncode == 0, done.stdout + done.stderr
    [entry] = json.loads((project.root / "r.json").read_text())["environments"]
    assert entry["container"]["kept"] is True
    kept = containers_of(project.env, all_states=False)
    assert len(kept) == 1 and entry["container"]["id"].startswith(kept[0])
    assert "until `iris-envs down`" in done.stderr and "docker exec -it" in done.stderr
    # Neither gc nor the next run (which collects orphans) takes a kept container (issue 14 #4).
    for later in (("gc",), ("run", "-e", project.env, "--", "true")):
        assert project.cli(*later).returncode == 0
        assert containers_of(project.env, all_states=False) == kept
    down = project.cli("down", "-e", project.env)
    assert "iris-envs-kept-" in down.stdout, down.stdout
    assert containers_of(project.env) == []


def test_sigkilled_runner_leaves_one_container_that_the_next_invocation_removes(
    run_project: Callable[..., Project],
) -> None:
    project = run_project("2025.1")
    for next_invocation in (("gc",), ("run", "-e", project.env, "--", "true")):
        # Orphans are collected host-wide, so another xdist worker's `gc` or `run` may take
        # ours first (then our invocation rightly finds nothing): try again with a new orphan.
        for _attempt in range(3):
            process = _start_sleeper(project)
            os.kill(process.pid, signal.SIGKILL)
            finish(process)  # reaps the runner and kills its orphaned `sleep`
            assert len(containers_of(project.env)) == 1
            done = project.cli(*next_invocation)
            assert done.returncode == 0, done.stdout + done.stderr
            assert containers_of(project.env) == []
            if "removed" in done.stdout + done.stderr:
                break
        else:
            pytest.fail(f"`{' '.join(next_invocation)}` never said what it removed: {done.stdout}")


def test_up_then_run_reuse_uses_the_same_container(run_project: Callable[..., Project]) -> None:
    project = run_project("2025.1")
    env = project.env
    try:
        up = project.cli("up", "-e", env)
        assert up.returncode == 0, up.stdout + up.stderr
        variables = dict(
            line.split("=", 1) for line in up.stdout.splitlines() if line.startswith("IRIS_")
        )
        assert variables["IRIS_PASSWORD"] == "********"
        container = variables["IRIS_ENVS_CONTAINER"]
        assert containers_of(env, all_states=False) == [container[:12]]
        assert variables["IRIS_HOST"] == "127.0.0.1"
        published = docker("port", container, "1972").split()
        assert published == [f"127.0.0.1:{variables['IRIS_PORT']}"]
        # The password reaches the test process only: not the container's or image's config.
        assert_no_secret(project.password, docker("inspect", container))
        assert_no_secret(
            project.password, docker("image", "inspect", variables["IRIS_ENVS_SNAPSHOT"])
        )

        reuse = project.cli(
            "run", "--reuse", "-e", env, "--", "sh", "-c", 'echo "C=$IRIS_ENVS_CONTAINER"'
        )
        assert reuse.returncode == 0, reuse.stdout + reuse.stderr
        assert f"C={container}" in reuse.stdout.splitlines()
        assert containers_of(env, all_states=False) == [container[:12]]

        login = project.cli("run", "--reuse", "-e", env, "--", *PYTEST, "-q", "tests")
        assert login.returncode == 0, login.stdout + login.stderr

        status = project.cli("status", "--json")
        assert status.returncode == 0, status.stderr
        rows = [r for r in json.loads(status.stdout) if r["env"] == env]
        assert [(r["role"], r["state"].split()[0]) for r in rows] == [("up", "running")]

        down = project.cli("down", "-e", env)
        assert down.returncode == 0, down.stdout + down.stderr
        assert containers_of(env) == []
    finally:
        project.cli("down", "-e", env, check_secret=False)


def test_no_build_on_a_missing_snapshot_exits_5_with_a_hint(
    run_project: Callable[..., Project],
) -> None:
    project = run_project("2025.1")
    done = project.cli("run", "-e", project.env, "--no-build", "--report", "r.json", "--", "true")
    assert done.returncode == 5, done.stdout + done.stderr
    assert "iris-envs build" in done.stderr
    assert containers_of(project.env) == []
    assert docker("images", "-q", f"iris-envs/{project.env}").split() == []
    text = (project.root / "r.json").read_text()
    assert_no_secret(project.password, text)
    [entry] = json.loads(text)["environments"]
    assert (entry["status"], entry["exit_code"]) == ("error", 5)


def test_sigint_with_p_escalates_against_commands_that_ignore_int_and_term(
    run_project: Callable[..., Project],
) -> None:
    # Issue 14 defect 3: in parallel mode the escalation used to stop at one SIGINT, so
    # commands trapping INT and TERM kept the run alive for their whole duration.
    project = run_project("2024.1", "2025.1")
    tag = uuid.uuid4().hex[:6]
    script = f"trap '' INT TERM; touch stubborn-{tag}-$IRIS_ENVS_ENV; sleep 300"
    process = project.popen(
        "run", "-e", ",".join(project.envs), "-p", "2", "--", "sh", "-c", script
    )
    wait_for(
        lambda: (
            all((project.root / f"stubborn-{tag}-{env}").exists() for env in project.envs)
            or process.poll() is not None
        ),
        90,
        "the commands",
    )
    os.kill(process.pid, signal.SIGINT)
    stdout, stderr = finish(process, timeout=45)  # grace 2 + SIGINT 10 + SIGTERM 5, then KILL
    assert process.returncode == 130, stdout + stderr
    for env in project.envs:
        assert containers_of(env) == []


def test_sigint_with_p_interrupts_builds_and_tags_nothing(
    run_project: Callable[..., Project], standin_images: dict[str, str]
) -> None:
    from tests.standin.build import build_slow_variant

    project = run_project("2024.1", "2025.1")
    config = project.root / "iris-envs.toml"
    text = config.read_text()
    for version in ("2024.1", "2025.1"):
        # Different images, so two keys and two concurrent builds; each waits 60 s to be ready.
        slow = build_slow_variant(version, 60)
        text = text.replace(f'image = "{standin_images[version]}"', f'image = "{slow}"')
    config.write_text(text)
    process = project.popen("run", "-e", ",".join(project.envs), "-p", "2", "--", "true")
    wait_for(
        lambda: len([c for env in project.envs for c in containers_of(env, all_states=False)]) == 2,
        60,
        "both build containers",
    )
    os.kill(process.pid, signal.SIGINT)
    stdout, stderr = finish(process, timeout=30)  # not the 60 s the builds would still take
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    for env in project.envs:
        assert containers_of(env) == []
        assert docker("images", "-q", f"iris-envs/{env}").strip() == ""
