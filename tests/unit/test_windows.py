"""The Windows branches, run here with sys.platform faked and the POSIX-only attributes gone
(os.killpg, signal.SIGKILL): stopping a command, asking whether an owner process lives, and
finding the engine. The Windows CI job runs the rest of the unit tests for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from iris_envs.cache import orphans
from iris_envs.engine import discovery
from iris_envs.run import command

CTRL_BREAK_EVENT = 1  # its value on Windows
CREATE_NEW_PROCESS_GROUP = 0x200


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process, as the code sees it on Windows: no process groups, no SIGKILL."""
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.delattr(os, "killpg", raising=False)
    monkeypatch.delattr(signal, "SIGKILL", raising=False)
    monkeypatch.setattr(signal, "CTRL_BREAK_EVENT", CTRL_BREAK_EVENT, raising=False)
    monkeypatch.setattr(
        subprocess, "CREATE_NEW_PROCESS_GROUP", CREATE_NEW_PROCESS_GROUP, raising=False
    )

    def no_kill(pid: int, sig: int) -> None:
        raise AssertionError(f"os.kill({pid}, {sig}) on Windows: 0 is CTRL_C_EVENT there")

    monkeypatch.setattr(os, "kill", no_kill)


@dataclass
class FakeProcess:
    """A command that never ends by itself; records what it was sent."""

    pid: int = 4242
    sent: list[Any] = field(default_factory=list)
    ended: bool = False

    def send_signal(self, signum: int) -> None:
        self.sent.append(("signal", signum))

    def terminate(self) -> None:
        self.sent.append("terminate")

    def kill(self) -> None:
        self.sent.append("kill")
        self.ended = True

    def wait(self, timeout: float | None = None) -> int:
        if self.ended:
            return 1
        raise subprocess.TimeoutExpired("cmd", timeout or 0)


@pytest.mark.usefixtures("windows")
def test_a_command_in_its_own_group_gets_ctrl_break_then_terminate_then_kill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(command, "INTERRUPT_GRACE", (0.0, 0.0, 0.0))
    process = FakeProcess()
    command.stop_process(process, group=True)  # type: ignore[arg-type]
    assert process.sent == [("signal", CTRL_BREAK_EVENT), "terminate", "kill"]


@pytest.mark.usefixtures("windows")
def test_a_command_sharing_the_console_gets_terminate_then_kill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It got the user's Ctrl-C from the console itself: no interrupt is sent again.
    monkeypatch.setattr(command, "INTERRUPT_GRACE", (0.0, 0.0, 0.0))
    process = FakeProcess()
    command.stop_process(process)  # type: ignore[arg-type]
    assert process.sent == ["terminate", "kill"]


@pytest.mark.usefixtures("windows")
def test_captured_commands_start_in_a_new_process_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: dict[str, Any] = {}

    class Popen:
        def __init__(self, argv: list[str], **kwargs: Any) -> None:
            started.update(kwargs)
            self.returncode = 0

        def communicate(self) -> tuple[bytes, bytes]:
            return b"done\n", b""

    monkeypatch.setattr(subprocess, "Popen", Popen)
    code, output = command.run_command(["pytest"], {}, command.Cancellation(), stream=False)
    assert (code, output) == (0, "done\n")
    assert started["creationflags"] == CREATE_NEW_PROCESS_GROUP
    assert started["start_new_session"] is False  # POSIX-only: Popen ignores it on Windows


class FakeKernel32:
    """OpenProcess / GetExitCodeProcess / CloseHandle over a table of processes."""

    def __init__(self, processes: dict[int, int | None]) -> None:
        self.processes = processes  # pid -> exit code (259 = running), None = access denied
        self.last_error = 0
        self.closed: list[int] = []

    def OpenProcess(self, access: int, inherit: bool, pid: int) -> int:
        assert access == 0x1000  # PROCESS_QUERY_LIMITED_INFORMATION: asks, never signals
        if pid not in self.processes:
            self.last_error = 87  # ERROR_INVALID_PARAMETER: no such process
            return 0
        if self.processes[pid] is None:
            self.last_error = 5  # ERROR_ACCESS_DENIED: it exists, another user's
            return 0
        return pid

    def GetExitCodeProcess(self, handle: int, code: Any) -> int:
        code._obj.value = self.processes[handle]
        return 1

    def CloseHandle(self, handle: int) -> int:
        self.closed.append(handle)
        return 1


@pytest.mark.usefixtures("windows")
def test_whether_an_owner_process_lives_is_asked_of_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ctypes

    kernel32 = FakeKernel32({10: 259, 11: 0, 12: None})
    monkeypatch.setattr(ctypes, "WinDLL", lambda name, **_: kernel32, raising=False)
    monkeypatch.setattr(ctypes, "get_last_error", lambda: kernel32.last_error, raising=False)
    assert orphans._process_alive(10) is True
    assert orphans._process_alive(11) is False  # exited
    assert orphans._process_alive(12) is True  # another user's, still there
    assert orphans._process_alive(13) is False  # gone
    assert kernel32.closed == [10, 11]


@pytest.mark.usefixtures("windows")
def test_the_engine_is_the_named_pipe_and_no_socket_is_probed(tmp_path: Path) -> None:
    def probe(path: str) -> str | None:
        raise AssertionError(f"probed {path} on Windows")

    endpoint = discovery.discover({"USERPROFILE": str(tmp_path)}, probe=probe)
    assert endpoint.host == "npipe:////./pipe/docker_engine"
    assert endpoint.is_local and endpoint.cli_args() == []
    # The docker CLI's folder is under the user's profile when HOME is not set.
    from iris_envs.engine.contexts import config_dir

    assert config_dir({"USERPROFILE": str(tmp_path)}) == tmp_path / ".docker"
