"""A failed pull is a miss only when the registry says so, whatever the key's digits are."""

from __future__ import annotations

import pytest

from iris_envs.errors import DockerOperationFailed
from iris_envs.share.registry import is_miss

# A real key from a CI run: "404" sits in its digits (…ef59404b5d…).
KEY = "a2758ec9c634b4e85007539e3022ef59404b5d50dcea595bd6fda781bc1b118c"
REMOTE = f"127.0.0.1:9/nowhere/iris-envs/app:{KEY}"


@pytest.mark.parametrize(
    ("message", "miss"),
    [
        # What Docker 20.10 says for a registry that is not listening.
        (
            f'pull {REMOTE}: Get "http://127.0.0.1:9/v2/": dial tcp 127.0.0.1:9: connect: '
            "connection refused",
            False,
        ),
        (f"pull {REMOTE}: unauthorized: authentication required", False),
        (
            f"pull {REMOTE}: manifest for {REMOTE} not found: manifest unknown: manifest unknown",
            True,
        ),
        (
            f"pull {REMOTE}: pull access denied for 127.0.0.1:9/nowhere/iris-envs/app, "
            "repository does not exist or may require 'docker login'",
            True,
        ),
        (f"pull {REMOTE}: received unexpected HTTP status: 404 Not Found", True),
    ],
    ids=["refused", "unauthorized", "manifest-unknown", "no-repository", "http-404"],
)
def test_only_the_registrys_own_words_make_a_miss(message: str, miss: bool) -> None:
    assert is_miss(DockerOperationFailed(message), REMOTE) is miss


def test_a_registry_path_that_says_not_found_does_not_make_a_miss() -> None:
    remote = f"registry.example.com/not-found/404/iris-envs/app:{KEY}"
    refused = DockerOperationFailed(f"pull {remote}: dial tcp: connection refused")
    assert not is_miss(refused, remote)
