"""An engine error followed by silence is the engine going away (exit 4), not a failed command."""

from __future__ import annotations

import argparse
import gc
import socket
import types
from pathlib import Path

import pytest
import requests.exceptions

from iris_envs.build import attempt
from iris_envs.cli import main as cli
from iris_envs.config.spec import EnvSpec
from iris_envs.engine import client as docker_adapter
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.images import COMMIT_TIMEOUT
from iris_envs.errors import BuildFailed, DockerOperationFailed, DockerUnavailable
from iris_envs.exit_codes import ExitCode
from tests.unit import POSIX_ONLY


def stopping_engine(answers: int, *, hangs: bool = False) -> tuple[DockerEngine, list[float]]:
    """A real adapter over an SDK client that answers ``answers`` pings, then refuses (a dockerd
    shutting down), or with ``hangs`` lets every ping time out (a remote engine out of reach):
    the adapter's own error translation does the rest. Returns the timeouts the pings used."""
    timeouts: list[float] = []

    def get(url: str, timeout: float) -> object:
        assert url == "/_ping"
        timeouts.append(timeout)
        if hangs:
            raise requests.exceptions.ReadTimeout("read timed out")
        if len(timeouts) > answers:
            raise requests.exceptions.ConnectionError("connection refused")
        return object()

    api = types.SimpleNamespace(_get=get, _url=lambda path: path, _raise_for_status=lambda _: None)
    client = types.SimpleNamespace(api=api)
    return DockerEngine(client_factory=lambda: client), timeouts


LAST_ANSWER = DockerOperationFailed(
    "start container 96ae4c232cd6: error creating overlay mount to /var/lib/docker/overlay2/"
    "c2cd/merged: invalid argument"
)


@pytest.mark.parametrize("answers", [0, 2])
def test_an_engine_that_stops_answering_after_an_error_is_exit_4(
    answers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docker_adapter, "ENGINE_GONE_WINDOW", 5.0)
    engine, _timeouts = stopping_engine(answers)
    with pytest.raises(DockerUnavailable) as raised:
        attempt._raise_if_engine_gone(engine, EnvSpec("app"), LAST_ANSWER)
    assert raised.value.exit_code == ExitCode.DOCKER_UNAVAILABLE
    assert "stopped answering during the build" in raised.value.message
    assert "invalid argument" in raised.value.message  # what it said last is kept
    assert raised.value.hint and "DOCKER_HOST" in raised.value.hint


def test_an_engine_that_still_answers_leaves_the_error_a_build_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(docker_adapter, "ENGINE_GONE_WINDOW", 0.3)
    engine, timeouts = stopping_engine(answers=1000)
    attempt._raise_if_engine_gone(engine, EnvSpec("app"), LAST_ANSWER)
    assert len(timeouts) >= 2  # asked more than once before concluding it is alive


def test_an_engine_whose_pings_time_out_is_undecided_and_asked_briefly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A remote engine out of reach must not hold the error for the client's 300 s timeout, nor
    # turn a refusal of a slow but present engine into exit 4.
    monkeypatch.setattr(docker_adapter, "ENGINE_GONE_WINDOW", 0.3)
    engine, timeouts = stopping_engine(answers=1000, hangs=True)
    assert engine.stopped_answering() is None
    assert timeouts and set(timeouts) == {docker_adapter.PING_TIMEOUT}
    assert docker_adapter.PING_TIMEOUT <= 2


def failing_command(error: Exception) -> argparse.Namespace:
    def execute(args: argparse.Namespace) -> int:
        raise error

    return argparse.Namespace(command="up", _execute=execute)


def run_main(monkeypatch: pytest.MonkeyPatch, error: Exception) -> int:
    monkeypatch.setattr(
        argparse.ArgumentParser,
        "parse_known_args",
        lambda self, argv=None: (failing_command(error), []),
    )
    return cli.main([])


def dead_socket(folder: Path) -> str:
    """A unix socket path nobody listens on: connecting is refused at once."""
    path = folder / "gone.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))  # bound, never listening, closed: ECONNREFUSED
    return f"unix://{path}"


# The docker SDK leaves the socket of a refused unix connect unclosed; collected in the test.
@pytest.mark.filterwarnings("ignore:unclosed:ResourceWarning")
@POSIX_ONLY
def test_any_command_ending_in_an_engine_error_of_a_vanished_engine_exits_4(
    monkeypatch: pytest.MonkeyPatch, short_tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `up`, `run`, `fixture create` ... end in whatever the engine answered last; the CLI asks
    # the engine (DOCKER_HOST) whether it is still there before choosing the exit code.
    monkeypatch.setenv("DOCKER_HOST", dead_socket(short_tmp_path))
    assert run_main(monkeypatch, LAST_ANSWER) == ExitCode.DOCKER_UNAVAILABLE
    err = capsys.readouterr().err
    assert "the Docker engine stopped answering (its last answer: start container" in err
    assert "invalid argument" in err and "hint:" in err and "Traceback" not in err
    gc.collect()


def test_an_engine_error_of_a_live_engine_keeps_its_own_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # (On a real engine: the disk-full test of tests/reliability, which stays exit 5.)
    monkeypatch.setattr(docker_adapter, "ENGINE_GONE_WINDOW", 0.3)
    monkeypatch.setattr(DockerEngine, "ping", lambda self: None)
    assert run_main(monkeypatch, LAST_ANSWER) == ExitCode.FAILED
    assert "error creating overlay mount" in capsys.readouterr().err


def test_other_errors_do_not_ask_the_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_engine(window: float | None = None) -> None:
        raise AssertionError("the engine was asked")

    monkeypatch.setattr(DockerEngine, "stopped_answering", no_engine)
    failure = BuildFailed("environment app: setup[1] failed")
    assert run_main(monkeypatch, failure) == ExitCode.BUILD_FAILED


def test_an_engine_request_that_times_out_is_an_engine_error_not_a_traceback() -> None:
    # requests' ReadTimeout is no ConnectionError (it is an OSError): it used to escape the
    # adapter's translation, and the CLI printed a traceback for a commit that outlasted 300 s.
    def ping() -> bool:
        raise requests.exceptions.ReadTimeout("read timed out. (read timeout=300)")

    client = types.SimpleNamespace(api=types.SimpleNamespace(ping=ping))
    with pytest.raises(DockerOperationFailed, match="ping: the engine timed out"):
        DockerEngine(client_factory=lambda: client).ping()


def test_a_commit_waits_past_the_client_timeout_but_not_forever() -> None:
    # A commit of tens of gigabytes outlasts the client's 300 s; an engine that stops answering
    # must still not hold a build forever (issue 22, item 17).
    sent: dict[str, object] = {}

    def post_json(url: str, data: object, **kwargs: object) -> str:
        sent.update(url=url, data=data, **kwargs)
        return "response"

    api = types.SimpleNamespace(
        _url=lambda path: path,
        _post_json=post_json,
        _result=lambda response, json: {"Id": "sha256:snap"},
        version=lambda: {"Components": [{"Name": "Engine"}]},  # dockerd
    )
    engine = DockerEngine(client_factory=lambda: types.SimpleNamespace(api=api))
    image = engine.commit("c1", labels={"a": "b"}, changes=["USER 51773"], message="m")
    assert image == "sha256:snap"
    assert sent["url"] == "/commit" and sent["timeout"] == COMMIT_TIMEOUT > 300
    assert sent["data"] == {"Labels": {"a": "b"}}
    assert sent["params"] == {
        "container": "c1",
        "comment": "m",
        "author": "iris-envs",
        "pause": True,
        "changes": ["USER 51773"],
    }
