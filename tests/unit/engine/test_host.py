"""Unit tests: which host the connection variables name, for local and remote engines."""

from __future__ import annotations

import pytest

from iris_envs.engine.host import engine_host, publish_address


@pytest.mark.parametrize(
    ("docker_host", "expected"),
    [
        ("", "127.0.0.1"),
        ("unix:///var/run/docker.sock", "127.0.0.1"),
        ("tcp://10.0.0.5:2376", "10.0.0.5"),
        ("tcp://build-box.example:2375", "build-box.example"),
        ("ssh://ci@runner-7", "runner-7"),
        ("ssh://ci@runner-7:2222", "runner-7"),
        ("10.1.2.3:2375", "10.1.2.3"),
    ],
)
def test_the_host_comes_from_docker_host(
    docker_host: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IRIS_ENVS_HOST", raising=False)
    assert engine_host(docker_host) == expected


def test_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRIS_ENVS_HOST", "127.0.0.1")  # an ssh -L tunnel to the remote engine
    assert engine_host("ssh://ci@runner-7") == "127.0.0.1"
    monkeypatch.delenv("IRIS_ENVS_PUBLISH_ADDRESS", raising=False)
    assert publish_address() == "127.0.0.1"
    monkeypatch.setenv("IRIS_ENVS_PUBLISH_ADDRESS", "10.0.0.5")
    assert publish_address() == "10.0.0.5"
