"""Engine calls whose answer must be heard: Ctrl-C and SIGTERM wait for it (a second one does not).

A create or a commit interrupted while the client waits for the engine's answer is done by the
engine all the same, and its id is lost with the answer: a container or an untagged image no
clean-up can name (issue 22 item 6). Around such a call and the line that records its id, a
signal is held and delivered the moment the block ends, so the ``finally`` blocks it unwinds
through know what to remove. The calls are bounded by the client's timeouts; a commit of
gigabytes can still take a while, so a second signal is not held: it acts at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held(what: str) -> Iterator[None]:
    """Hold SIGINT and SIGTERM during the block (``what``: the engine's work, for the message),
    then deliver a held one to the handler that was in place. Only the main thread receives
    signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        if held:  # the second: the user will not wait
            raise KeyboardInterrupt
        held.append(signum)
        sys.stderr.write(
            f"iris-envs: interrupted; waiting for the engine to {what} so it can be removed "
            "(interrupt again to stop at once and leave it behind)\n"
        )
        sys.stderr.flush()

    previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    for signum in _SIGNALS:
        signal.signal(signum, hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # None: a handler not set from Python; the default is the nearest to it.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if held:
            # The handler in place now acts on it (KeyboardInterrupt, or what it was set to).
            signal.raise_signal(held[0])
