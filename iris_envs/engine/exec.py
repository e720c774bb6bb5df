"""Commands run inside containers (docker exec) with stdin, a timeout and their exit code."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator, Mapping, Sequence

from iris_envs.engine.client import EngineClient
from iris_envs.engine.discovery import Endpoint
from iris_envs.engine.types import ExecResult
from iris_envs.errors import DockerOperationFailed, IrisEnvsError


def interactive_exec_argv(
    container_id: str, command: Sequence[str], *, user: str, endpoint: Endpoint
) -> list[str]:
    """argv for an interactive TTY exec through the docker CLI, on ``endpoint``'s engine.

    The SDK has no terminal handling (raw mode, resize, escape keys), so interactive sessions
    are the one place iris-envs hands over to the CLI; ``--context`` or ``-H`` make it talk to
    the engine iris-envs chose (DOCKER_HOST it inherits).
    """
    return ["docker", *endpoint.cli_args(), "exec", "-it", "-u", user, container_id, *command]


# Exec variables whose values never appear in an error (the test user's password reaches
# `iris session` as IRIS_ENVS_PASSWORD); the engine quotes a variable it refuses, value and all.
_SECRET_NAMES = ("PASSWORD", "SECRET", "TOKEN")
REDACTED = "********"


@contextlib.contextmanager
def _secrets_hidden(environment: Mapping[str, str] | None) -> Iterator[None]:
    """Re-raise an engine error with the values of secret variables replaced by ********."""
    secrets = sorted(
        (
            v
            for k, v in (environment or {}).items()
            if v and any(n in k.upper() for n in _SECRET_NAMES)
        ),
        key=len,
        reverse=True,
    )
    try:
        yield
    except IrisEnvsError as error:
        message, hint = error.message, error.hint
        for value in secrets:
            message = message.replace(value, REDACTED)
            hint = hint.replace(value, REDACTED) if hint else hint
        if (message, hint) == (error.message, error.hint):
            raise
        raise type(error)(message, hint=hint) from None


class ExecOps(EngineClient):
    """Commands run inside containers (docker exec), with stdin, a timeout and the exit code."""

    def exec(
        self,
        container_id: str,
        command: Sequence[str],
        *,
        user: str = "",
        environment: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        workdir: str | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        """Run a command in a running container, optionally feeding ``stdin``, and collect output.

        Values reach the command through ``environment`` (exec-only: unlike the container's own
        environment, it is not recorded by ``docker commit``).
        """
        api = self._api
        with (
            _secrets_hidden(environment),
            self._translate(f"exec in container {container_id[:12]}"),
        ):
            exec_id = api.exec_create(
                container_id,
                list(command),
                stdin=stdin is not None,
                user=user,
                environment=dict(environment or {}),
                workdir=workdir,
            )["Id"]
            if stdin is None and timeout is None:
                output = bytes(api.exec_start(exec_id, demux=False) or b"")
            else:
                output = self._exec_over_socket(exec_id, stdin or b"", timeout)
            exit_code = self._exec_exit_code(exec_id)
        return ExecResult(exit_code, output.decode("utf-8", errors="replace"))

    def _exec_over_socket(self, exec_id: str, stdin: bytes, timeout: float | None) -> bytes:
        """Attach to an exec, write stdin, half-close it (EOF), and read multiplexed frames."""
        from docker.utils.socket import frames_iter

        sock = self._api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)  # the SDK wraps the socket in a SocketIO on unix
        try:
            raw.settimeout(timeout)
            if stdin:
                raw.sendall(stdin)
            raw.shutdown(socket.SHUT_WR)  # EOF: `iris session` reads until the end of stdin
            chunks = [data for _stream, data in frames_iter(sock, tty=False)]
        except TimeoutError:
            raise DockerOperationFailed(
                f"exec {exec_id[:12]} did not finish within {timeout:.0f} s"
            ) from None
        finally:
            sock.close()
            # Closing the SDK's SocketIO wrapper leaves the socket itself open (ResourceWarning,
            # and one leaked file descriptor per exec over a long build).
            if raw is not sock:
                raw.close()
        return b"".join(chunks)

    def _exec_exit_code(self, exec_id: str) -> int:
        # The socket can close a moment before the engine records the exit code.
        for _ in range(200):
            state = self._api.exec_inspect(exec_id)
            if not state.get("Running") and state.get("ExitCode") is not None:
                return int(state["ExitCode"])
            time.sleep(0.05)
        raise DockerOperationFailed(f"exec {exec_id[:12]}: no exit code reported")
