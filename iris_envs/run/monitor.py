"""IRIS metrics around a run's command (``run --monitor``): a reading before, one every interval
while the command runs (a background thread), one after; the report gets the readings, the
counters' deltas and what monitoring gave up on.

Monitoring never fails a run. It backs off instead: a reading that takes more than a quarter
of the interval doubles the interval (so sampling stays a small share of the machine), a host
short of memory or disk (instance/pressure.py, thresholds in percent) skips the reading and
quadruples the interval, and after ``MAX_FAILURES`` failed readings in a row it stops
sampling; each step is a note in the report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import IrisEnvsError
from iris_envs.instance import metrics
from iris_envs.instance.metrics import Sample
from iris_envs.instance.pressure import Pressure

DEFAULT_INTERVAL = 5.0
MAX_INTERVAL = 300.0
MAX_FAILURES = 3
SLOW_SHARE = 0.25  # a reading taking more than this share of the interval doubles it
MAX_SAMPLES = 2000  # a long run keeps every other reading past this (the chart stays small)

Sampler = Callable[[DockerEngine, str], Sample]
PressureReader = Callable[[DockerEngine, str], Pressure]
DEFAULT_MIN_FREE = 10.0  # percent of memory and of disk below which the host is under pressure


class Monitor:
    """Samples one container's IRIS metrics while a ``with`` block runs."""

    def __init__(
        self,
        engine: DockerEngine,
        container_id: str,
        *,
        interval: float = DEFAULT_INTERVAL,
        sampler: Sampler = metrics.sample,
        clock: Callable[[], float] = time.monotonic,
        pressure: PressureReader | None = None,
        min_memory: float = DEFAULT_MIN_FREE,
        min_disk: float = DEFAULT_MIN_FREE,
    ) -> None:
        self.engine, self.container_id = engine, container_id
        self.interval = self.requested = interval
        self.sampler, self.clock = sampler, clock
        self.samples: list[tuple[float, Sample]] = []
        self.notes: list[str] = []
        self.failures = 0
        self.stopped = False
        self.pressure, self.min_memory, self.min_disk = pressure, min_memory, min_disk
        self.lowest: dict[str, float] = {}
        self.pressure_events: list[dict[str, Any]] = []
        self._origin = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Monitor:
        self._origin = self.clock()
        self.take()
        self._thread = threading.Thread(target=self._loop, name="iris-envs-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if kind is None or not issubclass(kind, KeyboardInterrupt):
            self.take()  # the reading after the command (not after Ctrl-C: cleanup comes first)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.take()

    def take(self) -> None:
        """One reading; a failure or a slow reading makes monitoring back off, never raise."""
        if self.stopped or self._under_pressure():
            return
        started = self.clock()
        try:
            reading = self.sampler(self.engine, self.container_id)
        except (IrisEnvsError, ValueError) as error:
            self.failures += 1
            self.notes.append(f"a reading failed: {str(error).splitlines()[0][:300]}")
            if self.failures >= MAX_FAILURES:
                self.stopped = True
                self.notes.append(f"stopped sampling after {MAX_FAILURES} failed readings")
            return
        took = self.clock() - started
        self.failures = 0
        self.samples.append((round(started - self._origin, 3), reading))
        if len(self.samples) > MAX_SAMPLES:
            self.samples = self.samples[:1] + self.samples[2::2]
        if took > self.interval * SLOW_SHARE and self.interval < MAX_INTERVAL:
            self.interval = min(self.interval * 2, MAX_INTERVAL)
            self.notes.append(f"a reading took {took:.2f} s: sampling every {self.interval:g} s")

    def _under_pressure(self) -> bool:
        """Whether the engine host is short of memory or disk now (then: no IRIS reading, and
        sampling backs off). A host that cannot be read is not checked again."""
        if self.pressure is None:
            return False
        try:
            reading = self.pressure(self.engine, self.container_id)
        except (IrisEnvsError, ValueError) as error:
            self.pressure = None
            self.notes.append(f"free memory and disk cannot be read: {str(error)[:200]}")
            return False
        for name, value in (("memory_free", reading.memory_free), ("disk_free", reading.disk_free)):
            self.lowest[name] = round(min(self.lowest.get(name, value), value), 2)
        short = reading.short(self.min_memory, self.min_disk)
        if not short:
            return False
        at = round(self.clock() - self._origin, 3)
        self.pressure_events.append({"t": at, "short": short})
        self.back_off(f"the engine host has {short}")
        return True

    def back_off(self, why: str) -> None:
        """Sample less often (the engine host is short of memory or disk, say)."""
        if self.interval < MAX_INTERVAL:
            self.interval = min(self.interval * 4, MAX_INTERVAL)
            self.notes.append(f"{why}: sampling every {self.interval:g} s")

    def report(self) -> dict[str, Any]:
        """What the JSON report keeps: settings, readings, counter deltas and notes."""
        first = self.samples[0][1] if self.samples else None
        last = self.samples[-1][1] if self.samples else None
        return {
            "interval": self.requested,
            "final_interval": self.interval,
            "samples": [
                {"t": t, "values": dict(s.values), "states": dict(s.states)}
                for t, s in self.samples
            ],
            "deltas": metrics.deltas(first, last) if first and last else {},
            "notes": list(self.notes),
            "pressure": {
                "thresholds": {"memory_free": self.min_memory, "disk_free": self.min_disk},
                "lowest": dict(self.lowest),
                "events": list(self.pressure_events),
            },
        }
