"""signals_held: a signal during an engine call acts once the call's answer is recorded
(issue 22 item 6; no Docker)."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import pytest

from iris_envs.engine.shield import signals_held
from tests.unit import POSIX_ONLY


@POSIX_ONLY
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_block_acts_after_it_through_the_handler_in_place(
    signum: int, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[int] = []

    def handler(number: int, frame: FrameType | None) -> None:
        seen.append(number)
        raise KeyboardInterrupt

    previous = signal.signal(signum, handler)
    recorded: list[str] = []
    try:
        with pytest.raises(KeyboardInterrupt), signals_held("finish the commit"):
            os.kill(os.getpid(), signum)
            recorded.append("image id")  # the line after the engine's answer still runs
    finally:
        signal.signal(signum, previous)
    assert recorded == ["image id"] and seen == [signum]
    assert "waiting for the engine to finish the commit" in capsys.readouterr().err
    assert signal.getsignal(signum) is previous  # restored


@POSIX_ONLY
def test_a_second_signal_acts_at_once() -> None:
    reached: list[str] = []
    with pytest.raises(KeyboardInterrupt), signals_held("finish the commit"):
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        reached.append("after")
    assert reached == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@POSIX_ONLY
def test_an_error_in_the_block_does_not_swallow_a_held_signal() -> None:
    with pytest.raises(KeyboardInterrupt), signals_held("create the build container"):
        os.kill(os.getpid(), signal.SIGINT)
        raise OSError("the engine refused")


def test_no_signal_no_change_and_other_threads_are_left_alone() -> None:
    with signals_held("create the build container"):
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            with signals_held("create the build container"):
                pass
        except BaseException as error:  # signal.signal outside the main thread: ValueError
            errors.append(error)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert errors == []
