"""How much memory and disk the engine host has left, read from inside an IRIS container.

A container sees the host's ``/proc/meminfo`` (MemTotal and MemAvailable, in kB: the kernel's
estimate of memory available for new work without swapping, proc(5)), and ``df -Pk`` of the
instance's ``mgr`` folder shows the filesystem holding the engine's container layers (POSIX
``df -P`` columns: total, used and available 1024-byte blocks). One ``sh`` exec, no IRIS.
"""

from __future__ import annotations

from dataclasses import dataclass

from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import DockerOperationFailed

MGR = "/usr/irissys/mgr"
READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class Pressure:
    """Free shares of the engine host's memory and of the disk under the instance, in percent."""

    memory_free: float
    disk_free: float

    def short(self, min_memory: float, min_disk: float) -> str:
        """'' when both are above their thresholds, else what is short."""
        parts = []
        if self.memory_free < min_memory:
            parts.append(f"{self.memory_free:.1f} % of memory free (< {min_memory:g} %)")
        if self.disk_free < min_disk:
            parts.append(f"{self.disk_free:.1f} % of disk free (< {min_disk:g} %)")
        return " and ".join(parts)


def parse_pressure(output: str) -> Pressure:
    """The reading in ``cat /proc/meminfo; df -Pk DIR`` output; ValueError when incomplete."""
    memory: dict[str, float] = {}
    disk: tuple[float, float] | None = None
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] in ("MemTotal:", "MemAvailable:"):
            memory[fields[0]] = float(fields[1])
        elif len(fields) >= 6 and fields[1].isdigit() and fields[3].isdigit():
            disk = (float(fields[1]), float(fields[3]))  # total, available (1K blocks)
    if memory.get("MemTotal:", 0) <= 0 or "MemAvailable:" not in memory or not disk or not disk[0]:
        raise ValueError("no MemTotal/MemAvailable or df line in the host reading")
    return Pressure(
        memory_free=100.0 * memory["MemAvailable:"] / memory["MemTotal:"],
        disk_free=100.0 * disk[1] / disk[0],
    )


def read_pressure(engine: DockerEngine, container_id: str) -> Pressure:
    """Read the engine host's free memory and disk through ``container_id``."""
    result = engine.exec(
        container_id, ["sh", "-c", f"cat /proc/meminfo; df -Pk {MGR}"], timeout=READ_TIMEOUT
    )
    if result.exit_code != 0:
        raise DockerOperationFailed(f"reading free memory and disk failed: {result.output[:200]}")
    return parse_pressure(result.output)
