"""Progress output: one line per step with elapsed time; a live spinner only on a terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

_WRITE_LOCK = threading.Lock()


def use_live_output(stream: TextIO) -> bool:
    """Rich live output on an interactive terminal; plain lines in CI and pipes."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("NO_COLOR"):
        return False
    return stream.isatty() and os.environ.get("TERM") != "dumb"


class Reporter:
    """Prints progress for one environment (thread-safe; prefix names the environment)."""

    def __init__(
        self, prefix: str = "", stream: TextIO | None = None, *, live: bool = True
    ) -> None:
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stderr
        self._lock = threading.Lock()
        self._console: Any = None
        # live=False for parallel workers: several spinners on one terminal would garble it.
        if live and use_live_output(self.stream):
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)

    def _label(self) -> str:
        return f"{self.prefix}: " if self.prefix else ""

    def line(self, message: str) -> None:
        """Print one line of progress."""
        with self._lock:
            if self._console is not None:
                from rich.markup import escape

                self._console.print(f"[bold cyan]{escape(self._label())}[/]{escape(message)}")
            else:
                # One write under a lock all reporters share: parallel environments' lines
                # never run into each other (print writes the text and the newline apart).
                with _WRITE_LOCK:
                    self.stream.write(f"{self._label()}{message}\n")
                    self.stream.flush()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[StepHandle]:
        """Report a step's start, live detail on a terminal, and its elapsed time at the end."""
        handle = StepHandle(self, name)
        status: Any = None
        if self._console is not None:
            status = self._console.status(f"{self._label()}{name} ...")
            status.start()
            handle._status = status
        else:
            self.line(f"{name} ...")
        try:
            yield handle
        except BaseException:
            if status is not None:
                status.stop()
            self.line(f"{name} failed after {handle.elapsed:.1f} s")
            raise
        if status is not None:
            status.stop()
        detail = f" ({handle.detail})" if handle.detail else ""
        self.line(f"{name} done in {handle.elapsed:.1f} s{detail}")


class StepHandle:
    """Lets a running step update its detail text (bytes pulled, check passed, ...)."""

    def __init__(self, reporter: Reporter, name: str) -> None:
        self._reporter = reporter
        self._name = name
        self._started = time.monotonic()
        self._status: Any = None
        self._last_plain = 0.0
        self.detail = ""

    @property
    def elapsed(self) -> float:
        """Seconds since the step started."""
        return time.monotonic() - self._started

    def update(self, detail: str, *, plain_every: float = 5.0) -> None:
        """Show new detail: live on a terminal, at most every ``plain_every`` s in plain mode."""
        self.detail = detail
        if self._status is not None:
            label = self._reporter._label()
            self._status.update(f"{label}{self._name} ... {detail} ({self.elapsed:.0f} s)")
        elif time.monotonic() - self._last_plain >= plain_every:
            self._last_plain = time.monotonic()
            self._reporter.line(f"{self._name} ... {detail} ({self.elapsed:.0f} s)")


def human_bytes(count: float) -> str:
    """Format a byte count for progress lines: 1.5 MB, 812 kB."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"
