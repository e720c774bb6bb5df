"""An engine error followed by silence is the engine going away (exit 4), not a failed build."""

from __future__ import annotations

import pytest

from iris_envs import snapshot
from iris_envs.errors import DockerOperationFailed, DockerUnavailable
from iris_envs.exit_codes import ExitCode
from iris_envs.manifest import EnvSpec


class StoppingEngine:
    """Answers ``answers`` pings, then no more (a dockerd shutting down)."""

    def __init__(self, answers: int) -> None:
        self.answers = answers
        self.pings = 0

    def ping(self) -> None:
        self.pings += 1
        if self.pings > self.answers:
            raise DockerUnavailable("Docker engine not reachable", hint="start dockerd")


LAST_ANSWER = DockerOperationFailed(
    "start container 96ae4c232cd6: error creating overlay mount to /var/lib/docker/overlay2/"
    "c2cd/merged: invalid argument"
)


@pytest.mark.parametrize("answers", [0, 2])
def test_an_engine_that_stops_answering_after_an_error_is_exit_4(
    answers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "ENGINE_GONE_WINDOW", 5.0)
    with pytest.raises(DockerUnavailable) as raised:
        snapshot._raise_if_engine_gone(StoppingEngine(answers), EnvSpec("app"), LAST_ANSWER)  # type: ignore[arg-type]
    assert raised.value.exit_code == ExitCode.DOCKER_UNAVAILABLE
    assert "stopped answering during the build" in raised.value.message
    assert "invalid argument" in raised.value.message  # what it said last is kept
    assert raised.value.hint == "start dockerd"


def test_an_engine_that_still_answers_leaves_the_error_a_build_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(snapshot, "ENGINE_GONE_WINDOW", 0.3)
    engine = StoppingEngine(answers=1000)
    snapshot._raise_if_engine_gone(engine, EnvSpec("app"), LAST_ANSWER)  # type: ignore[arg-type]
    assert engine.pings >= 2  # asked more than once before concluding it is alive
