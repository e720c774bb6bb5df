"""Sample IRIS's counters before, during and after a command, backing off under host pressure."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import IrisEnvsError
from iris_envs.instance.objectscript import IRIS_OWNER, extract_error
from iris_envs.monitor.recipe import (
    COUNTERS,
    GAUGES,
    Reading,
    parse_sample,
    sample_command,
    sample_environment,
    sample_script,
)

SAMPLE_TIMEOUT = 30.0  # a sample that takes longer is a failed one
MAX_BACKOFF = 60.0  # under pressure the interval doubles up to this
MAX_FAILURES = 3  # consecutive failed samples after which sampling stops (the run goes on)
MAX_KEPT = 1000  # samples kept for the charts; beyond, every other one is dropped


@dataclass
class _Record:
    """What the sampler saw, as the report shows it."""

    started: float
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    first: dict[str, int] | None = None
    last: dict[str, int] | None = None
    pressure: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    stopped: str = ""
    stride: int = 1
    seen: int = 0


class Sampler:
    """Takes a sample when the command starts and ends, and every ``monitor_interval`` seconds
    in between on a thread; never fails the run (a failing sampler stops and says why)."""

    def __init__(self, engine: DockerEngine, container_id: str, spec: EnvSpec) -> None:
        self._engine, self._container_id, self._spec = engine, container_id, spec
        self._record = _Record(started=time.monotonic())
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="iris-envs-monitor", daemon=True)
        self._consecutive_failures = 0

    def __enter__(self) -> Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=SAMPLE_TIMEOUT + 5)
        if kind is None or issubclass(kind, Exception):  # not after Ctrl-C: cleanup comes first
            self._sample()

    def _loop(self) -> None:
        interval = self._spec.monitor_interval
        while not self._stop.wait(interval):
            under_pressure = self._sample()
            if self._record.stopped:
                return
            backed_off = min(interval * 2, MAX_BACKOFF)
            interval = backed_off if under_pressure else self._spec.monitor_interval

    def _sample(self) -> bool:
        """Take one sample; True when the host was under pressure (the session was skipped)."""
        if self._record.stopped:
            return False
        nonce = secrets.token_hex(8)
        at = time.monotonic() - self._record.started
        try:
            result = self._engine.exec(
                self._container_id,
                sample_command(),
                user=IRIS_OWNER,
                environment=sample_environment(
                    self._spec.monitor_min_free_memory, self._spec.monitor_min_free_disk
                ),
                stdin=sample_script(nonce).encode(),
                timeout=SAMPLE_TIMEOUT,
            )
        except IrisEnvsError as error:
            self._failed(str(error))
            return False
        reading = parse_sample(result.output, nonce)
        reason = self._pressure_reason(reading)
        with self._lock:
            if reason:
                self._record.pressure.append(
                    {
                        "at": round(at, 3),
                        "reason": reason,
                        "free_memory": reading.free_memory,
                        "free_disk": reading.free_disk,
                    }
                )
                return True
            if reading.metrics is None:
                self._failed(extract_error(result.output, nonce))
                return False
            self._consecutive_failures = 0
            self._keep(at, reading.metrics)
        return False

    def _pressure_reason(self, reading: Reading) -> str:
        spec, parts = self._spec, []
        if reading.free_memory is not None and reading.free_memory < spec.monitor_min_free_memory:
            parts.append(
                f"free memory {_mb(reading.free_memory)} < {_mb(spec.monitor_min_free_memory)}"
            )
        if reading.free_disk is not None and reading.free_disk < spec.monitor_min_free_disk:
            parts.append(f"free disk {_mb(reading.free_disk)} < {_mb(spec.monitor_min_free_disk)}")
        return ", ".join(parts)

    def _failed(self, message: str) -> None:
        self._record.failed += 1
        self._consecutive_failures += 1
        if self._consecutive_failures >= MAX_FAILURES:
            self._record.stopped = f"{MAX_FAILURES} samples in a row failed: {message}"

    def _keep(self, at: float, metrics: dict[str, int]) -> None:
        record = self._record
        if record.first is None:
            record.first = metrics
        record.last = metrics
        record.seen += 1
        if (record.seen - 1) % record.stride == 0:
            record.samples.append((at, metrics))
        if len(record.samples) > MAX_KEPT:
            record.samples = record.samples[::2]
            record.stride *= 2

    def report(self) -> dict[str, Any]:
        """The JSON report's ``monitoring`` entry: counter deltas, gauges, samples, pressure."""
        with self._lock:
            record = self._record
            first, last = record.first or {}, record.last or {}
            samples = [
                {"at": round(at, 3), **{name: m[name] for name in (*COUNTERS, *GAUGES)}}
                for at, m in record.samples
            ]
            return {
                "interval": self._spec.monitor_interval,
                "deltas": {n: last[n] - first[n] for n in COUNTERS if n in first and n in last},
                "gauges": {
                    n: {
                        "min": min(s[n] for s in samples),
                        "max": max(s[n] for s in samples),
                        "last": samples[-1][n],
                    }
                    for n in GAUGES
                    if samples
                },
                "samples": samples,
                "pressure": list(record.pressure),
                "failed": record.failed,
                "stopped": record.stopped or None,
            }


def _mb(size: int) -> str:
    return f"{size / 1000**2:.0f} MB"
