"""Honest diagnostics (issue 23 item 5), on the real engine with the stand-in image: each test
fails on the code before the fix, where the message blamed the wrong thing or came too late."""

from __future__ import annotations

import socket
import time
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


@pytest.fixture
def env_name() -> Iterator[str]:
    name = unique_env("diag")
    yield name
    remove_env_artifacts(name)


def project(
    make_project: MakeProject, image: str, env: str, password: str, extra: str = ""
) -> Path:
    return make_project(
        f'[env."{env}"]\nimage = "{image}"\npassword = "{password}"\n{extra}',
        {"src/Demo/Hello.cls": "Class Demo.Hello {}\n", "src/Demo/Other.cls": "Class Demo.O {}\n"},
    )


def published_superserver(container: str) -> int:
    port = docker("port", container, "1972/tcp").stdout.split(":")[-1].strip()
    return int(port)


def wait_for_banner(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 2) as sock:
                if sock.recv(64):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answers on port {port}")
        time.sleep(0.3)


def test_a_port_that_answers_but_not_as_iris_is_reported_as_such(
    standin_images: dict[str, str], cleanup_label: str
) -> None:
    """The stand-in's superserver speaks a line protocol, not IRIS's: the driver says "Invalid
    Message Sequence Number", which is no reason to ask whether the container runs."""
    from iris_envs import ConnectFailed, connect

    container = docker(
        "run", "-d", "--label", f"org.iris-envs.test={cleanup_label}",
        "-p", "127.0.0.1::1972", standin_images[VERSION],
    ).stdout.strip()  # fmt: skip
    port = published_superserver(container)
    wait_for_banner(port)
    with pytest.raises(ConnectFailed) as raised:
        connect("127.0.0.1", port, "USER", "test", "Pw-diag", timeout=5)
    message = str(raised.value)
    assert "not with the IRIS superserver protocol" in message, message
    assert "Invalid Message Sequence Number" in message  # the driver's own words stay
    assert "is the container running" not in message
    assert "Pw-diag" not in message


def test_fixture_create_checks_what_iris_answered_and_leaves_no_folder(
    make_project: MakeProject, standin_images: dict[str, str], env_name: str, tmp_path: Path
) -> None:
    """A namespace whose globals database IRIS names "1" (an odd CPF): before, `fixture create`
    printed `copying /usr/irissys/mgr/1/IRIS.DAT`, failed, and left an empty -o folder."""
    root = project(make_project, standin_images[VERSION], env_name, "Pw-fixture")
    up = run_cli(["up", "-e", env_name], root, timeout=180)
    assert up.returncode == 0, up.stderr
    try:
        container = next(
            line.split("=", 1)[1]
            for line in up.stdout.splitlines()
            if line.startswith("IRIS_ENVS_CONTAINER=")
        )
        cpf = "/usr/irissys/iris.cpf"  # the configuration (RACS_cpf), as the stand-in keeps it
        cases = {
            # IRIS itself refuses to describe a database named "1" (Config.Databases.Get's
            # error status), before the shape check is reached.
            "1": ("s|^USER=USER$|USER=1|", "database 1 does not exist"),
            "relative": ("s|^USER=/usr/irissys/mgr/user/$|USER=user/|", "not an absolute"),
        }
        for case, (edit, expected) in cases.items():
            docker("exec", "-u", "0", container, "cp", cpf, f"{cpf}.orig")
            docker("exec", "-u", "0", container, "sed", "-i", edit, cpf)
            out = tmp_path / f"fixture-{case}"
            done = run_cli(
                ["fixture", "create", "--env", env_name, "--namespace", "USER", "-o", str(out)],
                root,
                timeout=180,
            )
            docker("exec", "-u", "0", container, "cp", f"{cpf}.orig", cpf)
            assert done.returncode != 0, done.stdout + done.stderr
            assert expected in done.stderr, done.stderr
            assert "copying" not in done.stdout + done.stderr
            assert "Traceback" not in done.stderr
            assert not out.exists(), sorted(out.iterdir())  # nothing half-made left behind
    finally:
        run_cli(["down", "-e", env_name], root)


def test_pytest_options_given_to_run_say_where_they_go(tmp_path: Path) -> None:
    done = run_cli(["run", "-e", "app", "-k", "greet", "-x"], tmp_path)
    assert done.returncode == int(ExitCode.CONFIG_ERROR), done.stderr
    assert "run has no option -k" in done.stderr
    assert "iris-envs run -e app -- pytest -k greet -x" in done.stderr
    assert "Traceback" not in done.stderr
    path_first = run_cli(["run", "tests/test_a.py", "-k", "greet"], tmp_path)
    assert path_first.returncode == int(ExitCode.CONFIG_ERROR)
    assert "iris-envs run -- pytest tests/test_a.py -k greet" in path_first.stderr


def test_reuse_refuses_a_stale_up_container_before_building_anything(
    make_project: MakeProject, standin_images: dict[str, str], env_name: str
) -> None:
    root = project(make_project, standin_images[VERSION], env_name, "First-pw-1")
    up = run_cli(["up", "-e", env_name], root, timeout=180)
    assert up.returncode == 0, up.stderr
    try:
        repo = snapshot_repo(env_name, root)
        before = set(docker("images", "-q", "--no-trunc", repo).stdout.split())
        toml = root / "iris-envs.toml"
        toml.write_text(toml.read_text().replace("First-pw-1", "Second-pw-2"))
        refused = run_cli(["run", "--reuse", "-e", env_name, "--", "true"], root, timeout=180)
        assert refused.returncode == int(ExitCode.CONFIG_ERROR), refused.stdout + refused.stderr
        assert "password changed" in refused.stderr or "password" in refused.stderr
        output = refused.stdout + refused.stderr
        assert "building snapshot" not in output and "start build container" not in output
        after = set(docker("images", "-q", "--no-trunc", repo).stdout.split())
        assert after == before  # no snapshot of the new key was built
    finally:
        run_cli(["down", "-e", env_name], root)


def test_explain_names_the_file_that_changed_inside_a_folder(
    make_project: MakeProject, standin_images: dict[str, str], env_name: str
) -> None:
    root = project(
        make_project,
        standin_images[VERSION],
        env_name,
        f"Pw-{uuid.uuid4().hex[:8]}",
        'setup = [{ load = "src/" }]\n',
    )
    built = run_cli(["build", "-e", env_name], root, timeout=180)
    assert built.returncode == 0, built.stderr
    (root / "src" / "Demo" / "Hello.cls").write_text("Class Demo.Hello { }\n")
    (root / "src" / "Demo" / "New.cls").write_text("Class Demo.New {}\n")
    done = run_cli(["explain", env_name], root)
    assert done.returncode == 0, done.stderr
    assert "setup[1] load src/: Demo/Hello.cls changed, Demo/New.cls added" in done.stdout, (
        done.stdout
    )
    rebuilt = run_cli(["build", "-e", env_name], root, timeout=180)  # the build says the same
    assert "building snapshot: setup[1] load src/: Demo/Hello.cls changed" in rebuilt.stderr
