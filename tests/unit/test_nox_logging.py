"""iris_envs.nox keeps the docker SDK's DEBUG lines out of nox output, and leaves no level changed
(issue 23 item 3; the real nox run is tests/integration/test_nox_page.py)."""

from __future__ import annotations

import logging

from iris_envs.nox import CHATTY_LOGGERS, third_party_logs_quiet


def test_unconfigured_loggers_are_quiet_inside_and_untouched_afterwards() -> None:
    user_set = logging.getLogger("docker")
    user_set.setLevel(logging.DEBUG)  # a user who asked for the SDK's debug lines keeps them
    try:
        with third_party_logs_quiet():
            assert logging.getLogger("urllib3").level == logging.WARNING
            assert user_set.level == logging.DEBUG
        assert logging.getLogger("urllib3").level == logging.NOTSET
        assert user_set.level == logging.DEBUG
    finally:
        user_set.setLevel(logging.NOTSET)
    assert set(CHATTY_LOGGERS) >= {"urllib3", "docker"}
