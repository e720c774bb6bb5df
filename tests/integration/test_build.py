"""`iris-envs build` on a real engine with the stand-in IRIS image (issue 4 acceptance)."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import iris_envs
from iris_envs.exit_codes import ExitCode
from tests.integration.conftest import (
    MakeProject,
    docker,
    env_containers,
    popen_cli,
    remove_env_artifacts,
    run_cli,
    snapshot_repo,
    unique_env,
    write_project,
)

pytestmark = pytest.mark.docker

VERSION = "2025.1"
OWNER_UID = "51773"
SESSIONS = "/usr/irissys/mgr/sessions"
SETUP_DIR = "/home/irisowner/iris-envs-setup"


def env_table(env: str, image: str, password: str, setup: str, extra: str = "") -> str:
    """An iris-envs.toml with one environment."""
    return (
        f'[env."{env}"]\nimage = "{image}"\npassword = "{password}"\n{extra}setup = [\n{setup}]\n'
    )


STANDARD_SETUP = """\
  { objectscript = "setup/first.script" },
  { load = "src" },
  { shell = "echo made-by-shell > /home/irisowner/shell-made.txt" },
"""
STANDARD_FILES: dict[str, str] = {
    "setup/first.script": 'Write "first step ran",!\nSet ^Config("ready")=1\n',
    "src/App/Thing.cls": "Class App.Thing Extends %Persistent {}\n",
    "src/App/Other.cls": "Class App.Other {}\n",
}


def image_run(ref: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a throw-away container of ``ref`` (IRIS itself is not started)."""
    return docker("run", "--rm", "--entrypoint", "sh", ref, "-c", script, check=False)


def image_ids(env: str) -> set[str]:
    """Distinct image ids in the environment's snapshot repository."""
    return set(docker("images", "-q", "--no-trunc", snapshot_repo(env)).stdout.split())


def image_tags(env: str) -> set[str]:
    """The tags of the environment's snapshot repository."""
    return set(docker("images", "--format", "{{.Tag}}", snapshot_repo(env)).stdout.split())


def container_events(env: str, since: float, until: float) -> list[str]:
    """Actions of the engine's container events for ``env``'s containers in a time window."""
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
        "--format",
        "{{.Action}}",
    )
    return [line.split(":")[0].strip() for line in done.stdout.splitlines() if line.strip()]


def timed_cli(
    args: list[str], cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """run_cli, also returning the wall-clock window it ran in (for `docker events`)."""
    since = time.time()
    done = run_cli(args, cwd=cwd, env=env, timeout=timeout)
    return done, since, time.time() + 0.1


@dataclass
class Built:
    """One snapshot built by the module fixture, shared read-only by several tests."""

    root: Path
    env: str
    password: str
    cache: Path
    ref: str
    result: subprocess.CompletedProcess[str]
    events: list[str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(list(args), cwd=self.root, env={"IRIS_ENVS_CACHE_DIR": str(self.cache)})


@pytest.fixture(scope="module")
def built(
    standin_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Built]:
    """Build one environment with an objectscript, a load and a shell step (once per module)."""
    env = unique_env("bt")
    password = f"Pw{uuid.uuid4().hex}"
    base = tmp_path_factory.mktemp("built")
    root = write_project(
        base / "project",
        env_table(env, standin_images[VERSION], password, STANDARD_SETUP),
        STANDARD_FILES,
    )
    cache = base / "cache"
    try:
        done, since, until = timed_cli(
            ["build", "-e", env], cwd=root, env={"IRIS_ENVS_CACHE_DIR": str(cache)}
        )
        assert done.returncode == 0, done.stderr
        match = re.search(rf"{re.escape(env)}: (\S+) \(built\)", done.stdout)
        assert match, done.stdout
        yield Built(
            root, env, password, cache, match.group(1), done, container_events(env, since, until)
        )
    finally:
        remove_env_artifacts(env)


def test_build_leaves_a_tagged_labelled_snapshot(
    built: Built, standin_images: dict[str, str]
) -> None:
    repo = snapshot_repo(built.env)
    assert built.ref.startswith(f"{repo}:")
    info = json.loads(docker("image", "inspect", built.ref).stdout)[0]
    labels = info["Config"]["Labels"]
    key = labels["org.iris-envs.key"]
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert built.ref == f"{repo}:{key[:12]}"
    assert image_tags(built.env) == {key[:12], "latest"}
    assert image_ids(built.env) == {info["Id"]}  # :latest and :<key12> are one image
    assert labels["org.iris-envs.env"] == built.env
    assert labels["org.iris-envs.managed"] == "true"
    assert labels["org.iris-envs.version"] == iris_envs.__version__
    base_id = docker("image", "inspect", "-f", "{{.Id}}", standin_images[VERSION]).stdout.strip()
    assert labels["org.iris-envs.base-image"] == base_id
    created = dt.datetime.fromisoformat(labels["org.iris-envs.created"])
    assert abs((dt.datetime.now(dt.timezone.utc) - created).total_seconds()) < 600
    inputs = json.loads(labels["org.iris-envs.inputs"])
    assert [step["kind"] for step in inputs["setup"]] == ["objectscript", "load", "shell"]
    assert inputs["base_image"]["id"] == base_id
    assert built.password not in labels["org.iris-envs.inputs"]
    # `iris-envs key` agrees with the label.
    assert built.cli("key", built.env).stdout.strip() == key


def test_snapshot_filesystem_holds_what_the_setup_steps_made(built: Built) -> None:
    script = f"""
        set -e
        stat -c 'STAT %u %n' /home/irisowner/shell-made.txt
        cat /home/irisowner/shell-made.txt
        find {SETUP_DIR} -exec stat -c 'STAT %u %n' {{}} +
        find {SESSIONS} -exec stat -c 'STAT %u %n' {{}} +
        for f in {SESSIONS}/*.script; do echo "== $f"; cat "$f"; done
    """
    done = image_run(built.ref, script)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "made-by-shell" in out
    stats = [line.split(" ", 2)[1:] for line in out.splitlines() if line.startswith("STAT ")]
    owners = {path: uid for uid, path in stats}
    # The shell step's file, the load step's files and every recorded session: irisowner's.
    assert owners["/home/irisowner/shell-made.txt"] == OWNER_UID
    assert owners[f"{SETUP_DIR}/step-2/src/App/Thing.cls"] == OWNER_UID
    assert owners[f"{SETUP_DIR}/step-2/src/App/Other.cls"] == OWNER_UID
    sessions = [path for path in owners if path.startswith(f"{SESSIONS}/")]
    assert len(sessions) >= 3, owners
    assert {owners[path] for path in owners if path.startswith(("/usr", SETUP_DIR))} == {OWNER_UID}
    # The recorded session scripts show the objectscript step and the load step ran.
    assert 'Write "first step ran",!' in out
    assert 'Set ^Config("ready")=1' in out
    assert "$SYSTEM.OBJ.LoadDir(path,flags" in out


def test_snapshot_records_no_password_anywhere(built: Built) -> None:
    info = json.loads(docker("image", "inspect", built.ref).stdout)[0]
    config = info["Config"]
    for field in ("Env", "Cmd", "Entrypoint", "Labels"):
        assert built.password not in json.dumps(config.get(field)), field
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}} {{.Comment}}", built.ref)
    assert built.password not in history.stdout
    grep = image_run(built.ref, f"grep -rlF -- '{built.password}' /usr /home /etc; echo rc=$?")
    assert grep.stdout.strip().splitlines()[-1] == "rc=1", grep.stdout  # 1: no match


def test_snapshot_starts_without_abnormal_shutdown_warning(built: Built) -> None:
    name = f"iris-envs-it-start-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--name", name, "-e", "STANDIN_START_DELAY=0.1", built.ref)
    try:
        deadline = time.monotonic() + 20
        logs = ""
        while "Enabling logons" not in logs and time.monotonic() < deadline:
            time.sleep(0.1)
            proc = docker("logs", name, check=False)
            logs = proc.stdout + proc.stderr
        assert "Enabling logons" in logs, logs
        assert "abnormal" not in logs.lower(), logs
        shutdowns = docker("exec", name, "cat", "/usr/irissys/mgr/.standin/shutdowns").stdout
        assert shutdowns.strip().splitlines()[-1].startswith("clean"), shutdowns
    finally:
        docker("rm", "-f", name, check=False)


def test_build_started_build_and_verify_containers_and_removed_them(built: Built) -> None:
    # The positive control for the cache-hit test: a real build shows up in `docker events`.
    assert built.events.count("create") >= 2, built.events  # build + verify containers
    assert built.events.count("commit") == 1, built.events
    assert env_containers(built.env) == []


def test_second_build_is_a_cache_hit_that_starts_no_container(built: Built) -> None:
    before = image_ids(built.env)
    since = time.time()
    done = built.cli("build", "-e", built.env)
    until = time.time() + 0.1
    assert done.returncode == 0, done.stderr
    assert f"{built.env}: {built.ref} (cached)" in done.stdout
    assert f"snapshot {built.ref} is cached" in done.stderr
    assert "start build container" not in done.stderr
    assert container_events(built.env, since, until) == []
    assert image_ids(built.env) == before


@pytest.fixture
def project_env(
    make_project: MakeProject, standin_images: dict[str, str]
) -> Iterator[Callable[..., tuple[Path, str]]]:
    """make(setup, files, image=..., extra=...) -> (project root, env name); cleaned up after."""
    names: list[str] = []

    def make(
        setup: str,
        files: Mapping[str, str | bytes],
        *,
        image: str | None = None,
        extra: str = "",
    ) -> tuple[Path, str]:
        env = unique_env("bt")
        names.append(env)
        toml = env_table(
            env, image or standin_images[VERSION], f"Pw{uuid.uuid4().hex}", setup, extra
        )
        return make_project(toml, files, name=env), env

    yield make
    for env in names:
        remove_env_artifacts(env)


FAILING_SETUP = """\
  { objectscript = "setup/first.script" },
  { objectscript = "setup/boom.script" },
  { shell = "echo never > /home/irisowner/never.txt" },
"""
FAILING_FILES = {
    "setup/first.script": 'Write "first step ran",!\n',
    "setup/boom.script": 'Write "before the error",!\nZTRAP "BOOM"\nWrite "after",!\n',
}


def assert_nothing_left(env: str) -> None:
    """No tag, no image (tagged or not) and no container of ``env`` remain."""
    assert image_tags(env) == set()
    assert docker("images", "-aq", "--filter", f"label=org.iris-envs.env={env}").stdout == ""
    listed = docker(
        "ps",
        "-a",
        "--filter",
        "label=org.iris-envs.managed=true",
        "--filter",
        f"label=org.iris-envs.env={env}",
        "--format",
        "{{.Names}}",
    )
    assert listed.stdout.strip() == ""


def test_failing_step_exits_5_names_the_step_and_leaves_nothing(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    root, env = project_env(FAILING_SETUP, FAILING_FILES)
    done = run_cli(["build", "-e", env], cwd=root)
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    error = done.stderr
    assert "setup[2]" in error
    assert "setup/boom.script" in error
    assert "<ZBOOM>" in error
    assert "Traceback" not in error
    assert "setup[3]" not in error  # later steps did not run
    assert_nothing_left(env)
    # The build log named in the hint holds the step's IRIS output.
    log = re.search(r"build log: (\S+)", error)
    assert log, error
    assert "<ZBOOM>" in Path(log.group(1)).read_text(encoding="utf-8")


def test_keep_failed_keeps_the_build_container_and_names_it(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    root, env = project_env(FAILING_SETUP, FAILING_FILES)
    done = run_cli(["build", "-e", env, "--keep-failed"], cwd=root)
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    kept = re.search(r"kept the failed build container (\S+)", done.stderr)
    assert kept, done.stderr
    name = kept.group(1)
    try:
        state = docker("inspect", "-f", "{{.Config.Labels}}", name).stdout
        assert f"org.iris-envs.env:{env}" in state
        assert env_containers(env) != []
        assert image_tags(env) == set()
        # The build container still runs (the failure came before the stop): exec, not start.
        assert docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"
        assert f"docker exec -it {name} iris session IRIS" in done.stderr
        assert f"docker start {name}" not in done.stderr
        # gc does not take it (issue 14 #4); down does.
        assert run_cli(["gc"], cwd=root).returncode == 0
        assert docker("inspect", name, check=False).returncode == 0
        assert name in run_cli(["down", "-e", env], cwd=root).stdout
    finally:
        docker("rm", "-f", name, check=False)
    assert env_containers(env) == []


def interrupt_build_at(
    process: subprocess.Popen[str],
    marker: str,
    *,
    before: Callable[[], None] | None = None,
    signum: int = signal.SIGINT,
) -> tuple[str, float]:
    """SIGINT (or ``signum``) the build once ``marker`` is on its stderr (after ``before``);
    return its stderr and the seconds it took to exit after the signal."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    assert process.stderr is not None

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(marker in line for line in seen):
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        if before is not None:
            before()
        sent = time.monotonic()
        process.send_signal(signum)
        process.wait(timeout=120)  # stderr belongs to the reader thread: no communicate()
        took = time.monotonic() - sent
        assert process.stdout.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        process.stdout.close()
        process.stderr.close()
    while not lines.empty():
        seen.append(lines.get())
    return "".join(seen), took


def test_sigint_during_a_build_removes_the_container_and_exits_130(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    from tests.standin.build import build_slow_variant

    slow = build_slow_variant(VERSION, 30)  # waits 30 s before `Enabling logons`
    root, env = project_env("", {}, image=slow)
    process = popen_cli(["build", "-e", env], cwd=root)

    def started() -> None:
        time.sleep(0.5)  # well inside the 30 s start delay
        assert len(env_containers(env)) == 1  # the build container exists now

    stderr, _took = interrupt_build_at(process, "start build container", before=started)
    assert process.returncode == int(ExitCode.INTERRUPTED), stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert_nothing_left(env)


def test_sigint_during_a_dat_copy_exits_130_promptly_and_leaves_nothing(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    # The engine holds a container while it extracts an archive: a copy abandoned half-way
    # must hang up its upload, or removing the container waits behind it.
    root, env = project_env('  { dat = "data/orders" },\n', {"data/orders/IRIS.DAT": b""})
    with (root / "data" / "orders" / "IRIS.DAT").open("r+b") as handle:
        handle.truncate(768 * 1024 * 1024)  # sparse: cheap to write, slow to extract
    process = popen_cli(["build", "-e", env], cwd=root)
    stderr, took = interrupt_build_at(process, "while IRIS starts", before=lambda: time.sleep(0.3))
    assert process.returncode == int(ExitCode.INTERRUPTED), stderr
    assert "Traceback" not in stderr
    assert took < 30, f"the build took {took:.0f} s to stop after Ctrl-C"
    assert_nothing_left(env)


# A step that replaces the test user's password: the build commits, and only the start of the
# snapshot shows it does not accept the configured credentials. 64 MiB of data keep the build
# container's removal (made while the snapshot is verified) busy for a moment.
REPLACED_USER_SETUP = """\
  { dat = "data/orders" },
  { objectscript = "setup/replace-user.script" },
"""


def replaced_user_files() -> dict[str, str | bytes]:
    return {
        "data/orders/IRIS.DAT": uuid.uuid4().bytes * (4 * 1024 * 1024),
        "setup/replace-user.script": (
            'Do ##class(Security.Users).Create("test","%All","not-the-configured-password")\n'
        ),
    }


def test_a_snapshot_that_fails_verification_is_not_tagged_and_leaves_nothing(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    root, env = project_env(REPLACED_USER_SETUP, replaced_user_files())
    done = run_cli(["build", "-e", env], cwd=root)
    assert done.returncode == int(ExitCode.BUILD_FAILED), done.stderr
    assert "the snapshot does not accept user 'test'" in done.stderr
    assert "Traceback" not in done.stderr
    assert_nothing_left(env)  # nor the build container removed while it was verified


def test_sigint_while_the_snapshot_is_verified_exits_130_and_leaves_nothing(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    from tests.standin.build import build_slow_variant

    slow = build_slow_variant(VERSION, 3)  # the verify container waits 3 s for its IRIS
    root, env = project_env('  { dat = "data/orders" },\n', replaced_user_files(), image=slow)
    process = popen_cli(["build", "-e", env], cwd=root)
    stderr, _took = interrupt_build_at(process, "verify snapshot", before=lambda: time.sleep(0.2))
    assert process.returncode == int(ExitCode.INTERRUPTED), stderr
    assert "Traceback" not in stderr
    assert_nothing_left(env)


def test_sigint_during_the_commit_exits_130_and_leaves_no_image(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    # The engine finishes a commit it was asked for whatever the client does: Ctrl-C waits for
    # its answer (the image's id), then removes the image and the paused build container
    # (issue 22 item 6; it used to leave an untagged image for `gc`).
    root, env = project_env('  { dat = "data/orders" },\n', {"data/orders/IRIS.DAT": b""})
    with (root / "data" / "orders" / "IRIS.DAT").open("wb") as handle:
        for _ in range(256):
            handle.write(os.urandom(1024 * 1024))  # incompressible: the commit takes a while
    process = popen_cli(["build", "-e", env], cwd=root)
    stderr, took = interrupt_build_at(process, "commit snapshot", before=lambda: time.sleep(0.3))
    assert process.returncode == int(ExitCode.INTERRUPTED), stderr
    assert "Traceback" not in stderr
    assert took < 30, f"the build took {took:.0f} s to stop after Ctrl-C"
    assert_nothing_left(env)
    time.sleep(2)  # nothing the engine was still doing turns up later
    assert_nothing_left(env)


def test_concurrent_builds_of_one_key_commit_once(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    root, env = project_env(STANDARD_SETUP, STANDARD_FILES)
    since = time.time()
    # Same project, same cache folder (so the same lock file), started together.
    processes = [popen_cli(["build", "-e", env], cwd=root) for _ in range(2)]
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=120))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    until = time.time() + 0.1
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    stdouts = sorted(out.strip() for out, _err in outputs)
    assert [line.rsplit(" ", 1)[-1] for line in stdouts] == ["(built)", "(cached)"], stdouts
    refs = {line.split()[1] for line in stdouts}
    assert len(refs) == 1, stdouts
    waiter = next(err for out, err in outputs if "(cached)" in out)
    assert "waiting for another iris-envs process" in waiter, waiter
    events = container_events(env, since, until)
    assert events.count("commit") == 1, events
    assert len(image_ids(env)) == 1
    assert env_containers(env) == []


def test_rebuild_removes_the_snapshot_it_replaced_unless_a_container_uses_it(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    root, env = project_env("", {})
    assert run_cli(["build", "-e", env], root).returncode == 0
    [first] = image_ids(env)
    rebuilt = run_cli(["build", "-e", env, "--rebuild"], root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    [second] = image_ids(env)
    assert second != first
    assert "removed the snapshot it replaced" in rebuilt.stderr
    assert docker("image", "inspect", first, check=False).returncode != 0  # no dangling GB
    # A container of the old snapshot (an `up` container, a test run): the engine keeps the
    # image, iris-envs says nothing, and `gc` takes it once the container is gone.
    docker("create", second)
    kept = run_cli(["build", "-e", env, "--rebuild"], root)
    assert kept.returncode == 0, kept.stderr
    assert "removed the snapshot it replaced" not in kept.stderr
    assert docker("image", "inspect", second, check=False).returncode == 0


def test_explain_and_rebuild_name_the_changed_files(
    project_env: Callable[..., tuple[Path, str]],
) -> None:
    root, env = project_env(STANDARD_SETUP, STANDARD_FILES)
    first = run_cli(["build", "-e", env], cwd=root)
    assert first.returncode == 0, first.stderr
    old_key = run_cli(["key", env], cwd=root).stdout.strip()
    assert "up to date" in run_cli(["explain", env], cwd=root).stdout

    # (7) A changed setup file: explain names it (and only it).
    (root / "setup/first.script").write_text('Write "changed",!\n', encoding="utf-8")
    explained = run_cli(["explain", env], cwd=root)
    assert explained.returncode == 0, explained.stderr
    changed = [line for line in explained.stdout.splitlines() if line.startswith("  - ")]
    assert len(changed) == 1, explained.stdout
    assert "setup[1]" in changed[0]
    assert "setup/first.script" in changed[0]

    # (8) A changed fixture file (inside the `load` directory): a new key, and the rebuild
    # says why, naming the step.
    (root / "src/App/Other.cls").write_text("Class App.Other { }\n", encoding="utf-8")
    new_key = run_cli(["key", env], cwd=root).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", new_key)
    assert new_key != old_key
    rebuilt = run_cli(["build", "-e", env], cwd=root)
    assert rebuilt.returncode == 0, rebuilt.stderr
    reasons = [line for line in rebuilt.stderr.splitlines() if "building snapshot:" in line]
    assert any("setup[2]" in line and "src" in line for line in reasons), rebuilt.stderr
    assert any("setup/first.script" in line for line in reasons), rebuilt.stderr
    assert f"{snapshot_repo(env)}:{new_key[:12]} (built)" in rebuilt.stdout
    assert image_tags(env) == {old_key[:12], new_key[:12], "latest"}


ENTERPRISE_SETUP = """\
  { shell = "sha256sum /usr/irissys/mgr/iris.key | cut -c1-64 > /home/irisowner/key.sha256", \
user = "root" },
  { shell = "(echo x >> /usr/irissys/mgr/iris.key) 2>/dev/null && echo rw > key.mode \
|| echo ro > key.mode", user = "root" },
"""


@pytest.fixture(scope="module")
def enterprise(
    standin_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, subprocess.CompletedProcess[str]]]:
    """An enterprise environment with a license file, built once: (ref, license text, result)."""
    env = unique_env("bt-ee")
    license_text = f"LICENSE-{uuid.uuid4().hex}"
    base = tmp_path_factory.mktemp("enterprise")
    root = write_project(
        base / "project",
        env_table(
            env,
            standin_images[VERSION],
            f"Pw{uuid.uuid4().hex}",
            ENTERPRISE_SETUP,
            extra='edition = "enterprise"\nlicense = "iris.key"\n',
        ),
        {"iris.key": license_text + "\n"},
    )
    try:
        done = run_cli(
            ["build", "-e", env], cwd=root, env={"IRIS_ENVS_CACHE_DIR": str(base / "cache")}
        )
        # The read-only mount: the build's attempt to append to the key must have failed.
        assert (root / "iris.key").read_text(encoding="utf-8") == license_text + "\n"
        yield f"{snapshot_repo(env)}:latest", license_text, done
    finally:
        remove_env_artifacts(env)


def test_enterprise_build_mounts_the_license_read_only_and_commits_no_key(
    enterprise: tuple[str, str, subprocess.CompletedProcess[str]],
) -> None:
    import hashlib

    ref, license_text, done = enterprise
    assert done.returncode == 0, done.stderr
    seen = image_run(ref, "cat /home/irisowner/key.sha256 /home/irisowner/key.mode")
    digest, mode = seen.stdout.split()
    # The build saw the license at /usr/irissys/mgr/iris.key, mounted read-only...
    assert digest == hashlib.sha256((license_text + "\n").encode()).hexdigest()
    assert mode == "ro"
    # ...and the snapshot does not contain it.
    grep = image_run(ref, f"grep -rlF -- '{license_text}' /usr /home /etc; echo rc=$?")
    assert grep.stdout.strip().splitlines()[-1] == "rc=1", grep.stdout


def test_enterprise_snapshot_has_no_license_key_file(
    enterprise: tuple[str, str, subprocess.CompletedProcess[str]],
) -> None:
    ref, _license, done = enterprise
    assert done.returncode == 0, done.stderr
    listing = image_run(ref, "ls -ln /usr/irissys/mgr/iris.key 2>&1; echo rc=$?")
    assert listing.stdout.strip().splitlines()[-1] != "rc=0", listing.stdout
