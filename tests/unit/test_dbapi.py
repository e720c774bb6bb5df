"""iris_envs.connect(): recovery from first-login expiry, with the driver's real exception class
(iris.dbapi.OperationalError from intersystems-irispython), and clear errors otherwise."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from iris import dbapi

from iris_envs import dbapi as connect_module
from iris_envs.dbapi import ConnectFailed, connect, password_expired

ENV = {
    "IRIS_HOST": "127.0.0.1",
    "IRIS_PORT": "41972",
    "IRIS_NAMESPACE": "USER",
    "IRIS_USERNAME": "test",
    "IRIS_PASSWORD": "s3cret-pw",
    "IRIS_ENVS_CONTAINER": "c" * 64,
}


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


class Driver:
    """Stands in for iris.dbapi.connect: raises the queued errors, then returns a connection."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return "connection"


def test_the_variables_are_used_and_shared_memory_is_off(
    variables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = Driver()
    monkeypatch.setattr(dbapi, "connect", driver)
    assert connect() == "connection"
    assert driver.calls == [
        {
            "hostname": "127.0.0.1",
            "port": 41972,
            "namespace": "USER",
            "username": "test",
            "password": "s3cret-pw",
            "timeout": 10,
            "sharedmemory": False,  # the server is in a container
        }
    ]


def test_password_change_required_is_cleared_through_the_container_and_retried_once(
    variables: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    driver = Driver(dbapi.OperationalError("<ACCESS DENIED> Password change required"))
    monkeypatch.setattr(dbapi, "connect", driver)
    cleared: list[tuple[str, str]] = []
    monkeypatch.setattr(connect_module, "clear_expiry", lambda c, u: cleared.append((c, u)))
    with caplog.at_level(logging.WARNING, logger="iris_envs"):
        assert connect() == "connection"
    assert cleared == [("c" * 64, "test")]
    assert len(driver.calls) == 2
    [record] = caplog.records
    assert "password change" in record.getMessage() and "s3cret-pw" not in record.getMessage()


def test_a_second_refusal_is_not_retried_again(
    variables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    expired = dbapi.OperationalError("Password has expired")
    driver = Driver(expired, dbapi.OperationalError("Password has expired"))
    monkeypatch.setattr(dbapi, "connect", driver)
    monkeypatch.setattr(connect_module, "clear_expiry", lambda c, u: None)
    with pytest.raises(ConnectFailed, match="Password has expired"):
        connect()
    assert len(driver.calls) == 2


def test_other_errors_name_the_target_and_never_the_password(
    variables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = dbapi.OperationalError(
        "<COMMUNICATION LINK ERROR> Failed to connect to server; Details: s3cret-pw"
    )
    monkeypatch.setattr(dbapi, "connect", Driver(refused))
    with pytest.raises(ConnectFailed) as caught:
        connect()
    message = str(caught.value)
    assert "127.0.0.1:41972/USER as test" in message and "COMMUNICATION LINK ERROR" in message
    assert "s3cret-pw" not in message


def test_missing_variables_say_which(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConnectFailed, match="IRIS_HOST is not set"):
        connect()


@pytest.mark.parametrize(
    ("text", "expired"),
    [
        ("<ACCESS DENIED> Password change required", True),
        ("ERROR #845: Password has expired", True),
        ("Access Denied", False),
        ("<COMMUNICATION LINK ERROR>", False),
    ],
)
def test_what_counts_as_expiry(text: str, expired: bool) -> None:
    assert password_expired(dbapi.OperationalError(text)) is expired


@pytest.mark.parametrize(
    ("driver_text", "said", "not_said"),
    [
        # Words of intersystems-irispython 5 against a server that is not IRIS, and a closed port.
        (
            "<COMMUNICATION LINK ERROR> Failed to connect to server; Details: <COMMUNICATION "
            "ERROR> Message out of order; Details: Invalid Message Sequence Number: expected: 1 "
            "got: 1096045357",
            "not with the IRIS superserver protocol",
            "is the container running",
        ),
        (
            "<COMMUNICATION LINK ERROR> Failed to connect to server; Details: Error code: -1 "
            "Error message: ",
            "nothing accepts connections there",
            "superserver protocol",
        ),
    ],
)
def test_a_connection_failure_says_what_the_drivers_answer_means(
    variables: None, monkeypatch: pytest.MonkeyPatch, driver_text: str, said: str, not_said: str
) -> None:
    monkeypatch.setattr(dbapi, "connect", Driver(dbapi.OperationalError(driver_text)))
    with pytest.raises(ConnectFailed) as raised:
        connect()
    assert said in str(raised.value) and not_said not in str(raised.value)
    assert driver_text.partition(";")[0] in str(raised.value)  # the driver's words stay
