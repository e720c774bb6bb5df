"""``iris_envs.connect()``: a DB-API connection to an iris-envs container, past first-login expiry.

Reads the ``IRIS_*`` variables that ``iris-envs run`` and the pytest plugin set (or explicit
arguments) and connects with intersystems-irispython's DB-API (``iris.dbapi``), never through
shared memory (the server is in a container). When the server refuses the login because the
password must be changed or has expired, it clears that through the container (a
marker-checked ``iris session`` as irisowner, which needs no password), says so in one log
line, and retries once. Any other failure is one message naming host, port, namespace and user,
never the password.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from iris_envs.errors import IrisEnvsError

log = logging.getLogger("iris_envs")

# What IRIS answers when a predefined or expired account must change its password first.
_EXPIRED_TEXT = ("password change required", "password has expired", "password expired")


class ConnectFailed(IrisEnvsError):
    """The IRIS server could not be reached or refused the login."""


def password_expired(error: BaseException) -> bool:
    """Does the driver's error say the password must be changed (first login, expiry)?"""
    text = str(error).lower()
    return any(marker in text for marker in _EXPIRED_TEXT)


def _setting(explicit: Any, variable: str) -> str:
    if explicit is not None:
        return str(explicit)
    value = os.environ.get(variable, "")
    if not value:
        raise ConnectFailed(
            f"no {variable.lower().removeprefix('iris_')} to connect with: {variable} is not set",
            hint="run under `iris-envs run` or the pytest plugin, or pass it to connect()",
        )
    return value


def connect(
    host: str | None = None,
    port: int | None = None,
    namespace: str | None = None,
    username: str | None = None,
    password: str | None = None,
    *,
    container: str | None = None,
    timeout: int = 10,
    recover: bool = True,
) -> Any:
    """A DB-API connection (``iris.dbapi``) to the environment's IRIS; see the module doc."""
    from iris import dbapi  # intersystems-irispython

    target: dict[str, Any] = {
        "hostname": _setting(host, "IRIS_HOST"),
        "port": int(_setting(port, "IRIS_PORT")),
        "namespace": _setting(namespace, "IRIS_NAMESPACE"),
        "username": _setting(username, "IRIS_USERNAME"),
        "password": _setting(password, "IRIS_PASSWORD"),
    }
    container = container or os.environ.get("IRIS_ENVS_CONTAINER") or None

    def attempt() -> Any:
        return dbapi.connect(**target, timeout=timeout, sharedmemory=False)

    try:
        return attempt()
    except dbapi.Error as error:
        if recover and container and password_expired(error):
            log.warning(
                "iris-envs: IRIS requires a password change for %s (first-login expiry); "
                "cleared it in container %s and connecting again",
                target["username"],
                container[:12],
            )
            clear_expiry(container, str(target["username"]))
            try:
                return attempt()
            except dbapi.Error as again:
                error = again
        where = f"{target['hostname']}:{target['port']}/{target['namespace']}"
        diagnosis, hint = diagnose(error)
        raise ConnectFailed(
            f"cannot connect to IRIS at {where} as {target['username']}: {diagnosis}"
            f"{_without(error, target)}",
            hint=hint,
        ) from None


# The driver's words when the server answered with bytes that are not its protocol: whatever
# listens there is not an IRIS superserver (a web port, another service, a stand-in).
_NOT_IRIS_TEXT = ("invalid message sequence number", "message out of order")
# The driver's words when nothing accepted the connection.
_REFUSED_TEXT = ("error code: -1", "connection refused", "error code: 111")


def diagnose(error: BaseException) -> tuple[str, str]:
    """What a connection failure means, from the driver's text: (prefix for the message, hint)."""
    text = str(error).lower()
    if any(marker in text for marker in _NOT_IRIS_TEXT):
        return (
            "the port answers, but not with the IRIS superserver protocol (is it IRIS's "
            "superserver port, 1972 in the container, and not the web port or another service?): ",
            "check IRIS_PORT is the superserver port `iris-envs status` shows for this "
            "environment; an image that is not IRIS (or a stand-in) cannot serve DB-API",
        )
    if any(marker in text for marker in _REFUSED_TEXT):
        return (
            "nothing accepts connections there: ",
            "is the container running (`iris-envs status`)? are IRIS_* from this run?",
        )
    return "", "is the container running (`iris-envs status`)? are IRIS_* from this run?"


def _without(error: BaseException, target: dict[str, Any]) -> str:
    """The driver's message with the password (should it ever echo it) masked."""
    return (
        str(error).replace(str(target["password"]), "********")
        if target["password"]
        else str(error)
    )


def clear_expiry(container: str, username: str) -> None:
    """Unexpire the passwords in the container, through ``iris session`` as irisowner."""
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.instance.objectscript import run_session
    from iris_envs.instance.recipes import ENV_USERNAME, clear_password_expiry

    run_session(
        DockerEngine(),
        container,
        clear_password_expiry(),
        namespace="%SYS",
        environment={ENV_USERNAME: username},
        what="clear password expiry",
    )
