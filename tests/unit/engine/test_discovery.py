"""Which engine is chosen and why, one test per source: DOCKER_HOST, DOCKER_CONTEXT,
currentContext (in DOCKER_CONFIG and in ~/.docker), TLS files, the default socket and each
well-known socket; and the engine-unreachable error naming what was tried (no Docker)."""

from __future__ import annotations

import json
import socket
import threading
import types
from pathlib import Path
from typing import Any

import pytest

from iris_envs.engine import client as engine_client
from iris_envs.engine import discovery
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.contexts import context_id
from iris_envs.engine.discovery import Endpoint, discover, probe_socket
from iris_envs.engine.exec import interactive_exec_argv
from iris_envs.engine.host import engine_host
from iris_envs.errors import DockerUnavailable
from iris_envs.exit_codes import ExitCode
from tests.unit import POSIX_ONLY

DEFAULT = f"unix://{discovery.DEFAULT_SOCKET}"


def write_context(
    config: Path, name: str, host: str, *, tls: tuple[str, ...] = (), skip_verify: bool = False
) -> Path:
    """A context as `docker context create` stores it (docker/cli cli/context/store)."""
    meta = config / "contexts" / "meta" / context_id(name)
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip_verify}
    (meta / "meta.json").write_text(
        json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}})
    )
    folder = config / "contexts" / "tls" / context_id(name) / "docker"
    for file in tls:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / file).write_text("PEM\n")
    return folder


def use_context(config: Path, name: str) -> None:
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))


def answering(*paths: str) -> Any:
    """A probe under which exactly ``paths`` answer."""
    return lambda path: None if path in paths else "no such socket"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: a home of its own, no DOCKER_* variable."""
    return {"HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run")}


def test_the_context_id_is_the_sha256_of_the_name() -> None:
    # The docker CLI's own e2e fixture stores the context "remote" in this folder.
    assert context_id("remote").startswith("b71199eb")


def test_docker_host_comes_first(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    write_context(config, "other", "unix:///other.sock")
    env |= {"DOCKER_HOST": "tcp://10.0.0.5:2375", "DOCKER_CONTEXT": "other"}
    env["DOCKER_CONFIG"] = str(config)
    endpoint = discover(env, probe=answering())
    assert (endpoint.host, endpoint.source, endpoint.context) == (
        "tcp://10.0.0.5:2375",
        "DOCKER_HOST",
        None,
    )
    assert endpoint.cli_args() == []  # the CLI inherits DOCKER_HOST
    assert not endpoint.is_local


def test_docker_context_names_a_context_in_docker_config(
    env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "cfg"
    write_context(config, "second", "unix:///tmp/second.sock")
    use_context(config, "ignored-because-docker-context-wins")
    env |= {"DOCKER_CONTEXT": "second", "DOCKER_CONFIG": str(config)}
    endpoint = discover(env, probe=answering())
    assert endpoint.host == "unix:///tmp/second.sock"
    assert endpoint.source == "Docker context 'second' (DOCKER_CONTEXT)"
    assert endpoint.cli_args() == ["--context", "second"]
    assert endpoint.tls is None


def test_current_context_in_docker_config(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    write_context(config, "colima", "unix:///Users/me/.colima/default/docker.sock")
    use_context(config, "colima")
    env["DOCKER_CONFIG"] = str(config)
    endpoint = discover(env, probe=answering())
    assert endpoint.host == "unix:///Users/me/.colima/default/docker.sock"
    where = config / "config.json"
    assert endpoint.source == f"Docker context 'colima' (currentContext in {where})"


def test_current_context_in_the_home_folder(env: dict[str, str]) -> None:
    config = Path(env["HOME"]) / ".docker"
    write_context(config, "build-box", "tcp://build-box.example:2376")
    use_context(config, "build-box")
    endpoint = discover(env, probe=answering())
    assert endpoint.host == "tcp://build-box.example:2376"
    assert endpoint.context == "build-box"
    # The connection variables name the remote host, as for DOCKER_HOST=tcp://...
    assert engine_host(endpoint.host) == "build-box.example"


def test_engine_host_follows_the_current_context(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Path(env["HOME"]) / ".docker"
    write_context(config, "remote", "ssh://ci@runner-7")
    use_context(config, "remote")
    for name in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "IRIS_ENVS_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", env["HOME"])
    assert engine_host() == "runner-7"


def test_a_context_with_tls_files(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    folder = write_context(
        config, "secure", "tcp://engine.example:2376", tls=("ca.pem", "cert.pem", "key.pem")
    )
    env |= {"DOCKER_CONTEXT": "secure", "DOCKER_CONFIG": str(config)}
    tls = discover(env).tls
    assert tls is not None and tls.verify
    assert (tls.ca, tls.cert, tls.key) == (
        folder / "ca.pem",
        folder / "cert.pem",
        folder / "key.pem",
    )


def test_a_context_with_only_a_ca_and_skip_verify(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    write_context(config, "lab", "tcp://lab:2376", tls=("ca.pem",), skip_verify=True)
    env |= {"DOCKER_CONTEXT": "lab", "DOCKER_CONFIG": str(config)}
    tls = discover(env).tls
    assert tls is not None and not tls.verify and tls.cert is None and tls.ca is not None


def test_the_sdk_client_gets_the_endpoint_and_its_tls(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker
    import docker.tls

    config = tmp_path / "cfg"
    folder = write_context(
        config, "secure", "tcp://engine.example:2376", tls=("ca.pem", "cert.pem", "key.pem")
    )
    env |= {"DOCKER_CONTEXT": "secure", "DOCKER_CONFIG": str(config)}
    made: dict[str, Any] = {}

    def client(**kwargs: Any) -> Any:
        made.update(kwargs)
        return types.SimpleNamespace(api=types.SimpleNamespace(timeout=kwargs["timeout"]))

    monkeypatch.setattr(docker, "DockerClient", client)
    made_client = engine_client.sdk_client(discover(env), timeout=7)
    assert made["base_url"] == "tcp://engine.example:2376" and made["timeout"] == 7
    assert made_client.api.timeout == 7
    # The first request (the API version, asked while the client is made) waits seconds, not
    # the 300 s later requests may take: a silent engine fails fast (issue 22, item 17).
    made_client = engine_client.sdk_client(discover(env), timeout=300)
    assert made["timeout"] == engine_client.FIRST_ANSWER_TIMEOUT and made_client.api.timeout == 300
    tls = made["tls"]
    assert isinstance(tls, docker.tls.TLSConfig)
    assert tls.cert == (str(folder / "cert.pem"), str(folder / "key.pem"))
    assert tls.ca_cert == str(folder / "ca.pem") and tls.verify


def test_docker_host_tls_variables(env: dict[str, str], tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (certs / name).write_text("PEM\n")
    env |= {"DOCKER_HOST": "tcp://h:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
    endpoint = discover(env)
    assert endpoint.tls is not None and endpoint.tls.verify and endpoint.tls.ca == certs / "ca.pem"
    assert endpoint.sdk_environment() == {
        "DOCKER_HOST": "tcp://h:2376",
        "DOCKER_CERT_PATH": str(certs),
        "DOCKER_TLS_VERIFY": "1",
    }


def test_a_missing_context_is_exit_4_naming_it_and_where_it_came_from(
    env: dict[str, str], tmp_path: Path
) -> None:
    env |= {"DOCKER_CONTEXT": "gone", "DOCKER_CONFIG": str(tmp_path / "cfg")}
    with pytest.raises(DockerUnavailable) as raised:
        discover(env, probe=answering(discovery.DEFAULT_SOCKET))
    error = raised.value
    assert error.exit_code == ExitCode.DOCKER_UNAVAILABLE
    assert "Docker context 'gone' (from DOCKER_CONTEXT) does not exist" in error.message
    assert context_id("gone") in error.message
    assert error.hint and "docker context ls" in error.hint
    # Where no engine is needed (the host of the connection variables) it falls back quietly.
    assert discovery.configured_host(env) == discovery.default_host()


def test_the_default_context_and_an_unreadable_config_mean_the_default_socket(
    env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "config.json").write_text("{not json")
    env["DOCKER_CONFIG"] = str(config)
    default = discovery.default_host()  # a named pipe on Windows
    assert discover(env, probe=answering(discovery.DEFAULT_SOCKET)).host == default
    env["DOCKER_CONTEXT"] = "default"
    endpoint = discover(env, probe=answering(discovery.DEFAULT_SOCKET))
    assert (endpoint.host, endpoint.source, endpoint.cli_args()) == (
        default,
        "the default socket",
        [],
    )


@POSIX_ONLY
def test_the_default_socket_when_it_answers(env: dict[str, str]) -> None:
    probed: list[str] = []

    def probe(path: str) -> str | None:
        probed.append(path)
        return None

    endpoint = discover(env, probe=probe)
    assert endpoint.host == DEFAULT and endpoint.tried == ()
    assert probed == [discovery.DEFAULT_SOCKET]  # nothing else is looked at


@POSIX_ONLY
@pytest.mark.parametrize(
    ("who", "where"),
    [
        ("Colima", "{home}/.colima/default/docker.sock"),
        ("Rancher Desktop", "{home}/.rd/docker.sock"),
        ("Docker Desktop", "{home}/.docker/run/docker.sock"),
        ("Docker Desktop", "{home}/.docker/desktop/docker.sock"),
        ("rootless Docker", "{run}/docker.sock"),
        ("Podman", "{run}/podman/podman.sock"),
        ("Podman (rootful)", "/run/podman/podman.sock"),
    ],
)
def test_a_well_known_socket_when_nothing_is_configured(
    env: dict[str, str], who: str, where: str
) -> None:
    path = where.format(home=env["HOME"], run=env["XDG_RUNTIME_DIR"])
    endpoint = discover(env, probe=answering(path))
    assert endpoint.host == f"unix://{path}"
    assert endpoint.source.startswith(f"{who}'s socket: nothing configured")
    assert endpoint.tried[0] == f"{DEFAULT} (the default socket): no such socket"
    assert endpoint.cli_args() == ["-H", f"unix://{path}"]  # `shell` uses the same engine
    assert endpoint.is_local


def test_a_configured_engine_is_never_replaced_by_a_found_one(env: dict[str, str]) -> None:
    colima = f"{env['HOME']}/.colima/default/docker.sock"
    env["DOCKER_HOST"] = "unix:///nowhere.sock"
    assert discover(env, probe=answering(colima)).host == "unix:///nowhere.sock"


@POSIX_ONLY
def test_nothing_answers_exit_4_naming_what_was_tried(env: dict[str, str]) -> None:
    endpoint = discover(env, probe=answering())
    assert endpoint.host == DEFAULT
    assert len(endpoint.tried) == 1 + len(discovery.well_known_sockets(env))

    def refused() -> Any:
        raise ConnectionError("refused")

    engine = DockerEngine(client_factory=refused, endpoint=endpoint)
    with pytest.raises(DockerUnavailable) as raised:
        engine.ping()
    message = raised.value.message
    assert message.startswith(f"no Docker engine answers at {DEFAULT} (the default socket)")
    assert f"{env['HOME']}/.colima/default/docker.sock (Colima): no such socket" in message
    assert "/run/podman/podman.sock (Podman (rootful))" in message
    assert raised.value.exit_code == ExitCode.DOCKER_UNAVAILABLE


def test_shell_hands_the_docker_cli_the_same_engine() -> None:
    context = Endpoint("tcp://h:2376", "Docker context 'ci' (DOCKER_CONTEXT)", context="ci")
    argv = interactive_exec_argv("c1", ["iris", "session"], user="irisowner", endpoint=context)
    assert argv[:4] == ["docker", "--context", "ci", "exec"]
    assert interactive_exec_argv("c1", ["sh"], user="u", endpoint=Endpoint(DEFAULT, "x"))[1] == (
        "exec"
    )


# --- the probe itself, on real unix sockets -------------------------------------------------


def serve_once(path: Path, answer: bytes) -> threading.Thread:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(answer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@POSIX_ONLY
def test_probe_socket_on_real_sockets(short_tmp_path: Path) -> None:
    assert probe_socket(str(short_tmp_path / "none.sock")) == "no such socket"
    engine = short_tmp_path / "engine.sock"
    serve_once(engine, b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n\r\nOK").join(0)
    assert probe_socket(str(engine)) is None
    other = short_tmp_path / "other.sock"
    serve_once(other, b"SSH-2.0-OpenSSH\r\n")
    assert probe_socket(str(other)) == "not an engine (it answered 'SSH-2.0-OpenSSH')"
    busy = short_tmp_path / "busy.sock"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(busy))
        listening.listen(1)  # accepts, never answers: a busy engine is still the engine
        assert probe_socket(str(busy), timeout=0.2) is None
    dead = short_tmp_path / "dead.sock"
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(dead))  # bound, never listening: refused
    assert probe_socket(str(dead)) == "Connection refused"
