"""The wrapped command: run with the environment's variables, stopped on Ctrl-C, its exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress

from iris_envs.errors import ConfigError, Interrupted

# After Ctrl-C the command gets this long to finish on its own (it usually got the same SIGINT
# from the terminal), then SIGINT, SIGTERM and finally SIGKILL, as tox escalates.
INTERRUPT_GRACE = (2.0, 10.0, 5.0)


class Cancellation:
    """Shared by worker threads: set on Ctrl-C; tracks running commands to signal them."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen[bytes]] = set()

    def add(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes.add(process)

    def discard(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._processes.discard(process)

    def cancel(self) -> list[threading.Thread]:
        """Stop every running command with the same escalation as a sequential run's Ctrl-C
        (grace, SIGINT, SIGTERM, SIGKILL), all at once; return the threads doing it."""
        self.event.set()
        with self._lock:
            processes = list(self._processes)
        threads = [
            threading.Thread(target=stop_process, args=(p,), kwargs={"group": True}, daemon=True)
            for p in processes
        ]
        for thread in threads:
            thread.start()
        return threads

    def check(self) -> None:
        if self.event.is_set():
            raise Interrupted("interrupted")


def run_command(
    command: Sequence[str],
    variables: dict[str, str],
    cancellation: Cancellation,
    stream: bool,
) -> tuple[int, str]:
    """Run ``command`` with the IRIS_* variables; stream or capture its output."""
    environment = {**os.environ, **variables}
    try:
        process = subprocess.Popen(
            list(command),
            env=environment,
            stdout=None if stream else subprocess.PIPE,
            stderr=None if stream else subprocess.STDOUT,
            # Captured (-p) commands get a process group of their own, signalled as a whole on
            # Ctrl-C: a child left behind would hold the output pipe open and the run with it.
            start_new_session=not stream and _posix(),
            # Windows: a new process group instead, which can be sent CTRL_BREAK_EVENT.
            creationflags=_windows_group_flags(not stream),
        )
    except FileNotFoundError:
        raise ConfigError(
            f"command not found: {command[0]!r}",
            hint="install it in this environment, or give the full path after `--`",
        ) from None
    except PermissionError:
        raise ConfigError(f"command {command[0]!r} is not executable") from None
    cancellation.add(process)
    try:
        if stream:
            return shell_exit_code(process.wait()), ""
        captured, _ = process.communicate()
        return shell_exit_code(process.returncode), captured.decode("utf-8", errors="replace")
    except KeyboardInterrupt:
        stop_process(process)
        raise
    finally:
        cancellation.discard(process)


def shell_exit_code(returncode: int) -> int:
    """A command killed by signal N exits 128+N, as a shell reports it (Popen says -N, and
    ``sys.exit(-N)`` would turn that into the meaningless 256-N)."""
    return 128 - returncode if returncode < 0 else returncode


def _posix() -> bool:
    """Process groups and POSIX signals (killpg, SIGKILL) exist here; not on Windows."""
    return sys.platform != "win32" and hasattr(os, "killpg")


def _windows_group_flags(group: bool) -> int:
    """Popen's creationflags for a process group of its own on Windows (0 elsewhere: POSIX
    refuses any other value)."""
    if not group or _posix():
        return 0
    return int(getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0))


def _sender(process: subprocess.Popen[bytes], group: bool) -> Callable[[str], None]:
    """Send "interrupt", "terminate" or "kill" to the command (and its group, on POSIX).

    Windows has no process groups to signal and no SIGKILL (CPython's signal docs: SIGKILL is
    Unix-only; os.killpg is Unix-only): a command in a group of its own gets CTRL_BREAK_EVENT
    as its interrupt (the only console event a new process group can be sent), and terminate
    and kill are both TerminateProcess, of the command alone: what it started itself may
    outlive it (docs/your-machine.md).
    """

    def send(what: str) -> None:
        with suppress(ProcessLookupError, PermissionError, OSError):
            if _posix():
                signum = {"interrupt": signal.SIGINT, "terminate": signal.SIGTERM}.get(what)
                signum = signum or signal.SIGKILL
                if group:
                    os.killpg(process.pid, signum)
                else:
                    process.send_signal(signum)
            elif what == "interrupt":
                if group:  # a command sharing our console got the user's Ctrl-C already
                    process.send_signal(getattr(signal, "CTRL_BREAK_EVENT", signal.SIGTERM))
            elif what == "terminate":
                process.terminate()
            else:
                process.kill()

    return send


def stop_process(process: subprocess.Popen[bytes], *, group: bool = False) -> None:
    """Let an interrupted command finish, escalating SIGINT -> SIGTERM -> SIGKILL.

    A command in the terminal's process group got the terminal's SIGINT already, so it first
    gets a grace period; one in a group of its own (``group``) did not, so it gets SIGINT at
    once, and every signal goes to its whole group. (Windows: see _sender.)
    """
    grace, after_int, after_term = INTERRUPT_GRACE
    send = _sender(process, group)
    steps: list[tuple[str | None, float]] = [("interrupt", after_int), ("terminate", after_term)]
    if not group:
        steps.insert(0, (None, grace))
    for what, wait in steps:
        if what is not None:
            send(what)
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            continue  # a second Ctrl-C moves on to the next signal at once
    else:
        send("kill")
        process.wait()
    if group and _posix():
        send("kill")  # what the command left behind in its group (it holds the pipe)
