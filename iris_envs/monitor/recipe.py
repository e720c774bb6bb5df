"""What one sample asks the container: host pressure from the shell, IRIS counters from %SYS."""

from __future__ import annotations

import re
from dataclasses import dataclass

from iris_envs.instance.objectscript import INSTANCE, wrap_script, written_text

# Cumulative counters (a run reports their deltas) and gauges (a run reports min/max/last).
# Sources, the class reference (docs mirror ref/2024.1/SYS/Stats/Global.cls, Routine.cls,
# %SYSTEM/License.cls): SYS.Stats.Global.Sample() "RefLocal: the count of all global accesses
# to a local database", RefPrivate / RefRemote likewise for process-private and remote
# globals, RefUpdate* "the count of ... references that are Sets, Kills, or $Increments",
# JrnEntries "number of journal records created", PhysBlockReads / PhysBlockWrites; and
# SYS.Stats.Routine.Sample() RtnCommands "the count of all routine commands executed";
# $SYSTEM.License.LUConsumed() "number of license units currently consumed".
COUNTERS = (
    "global_references",
    "global_updates",
    "journal_entries",
    "block_reads",
    "block_writes",
    "routine_commands",
)
GAUGES = ("license_units",)
METRICS = COUNTERS + GAUGES

# The properties one sample writes, in order; summed into METRICS by ``_metrics``.
_FIELDS = (
    "g.RefLocal",
    "g.RefPrivate",
    "g.RefRemote",
    "g.RefUpdateLocal",
    "g.RefUpdatePrivate",
    "g.RefUpdateRemote",
    "g.JrnEntries",
    "g.PhysBlockReads",
    "g.PhysBlockWrites",
    "r.RtnCommands",
    "$SYSTEM.License.LUConsumed()",
)
SAMPLE_BODY = [
    "Set g=##class(SYS.Stats.Global).Sample(),r=##class(SYS.Stats.Routine).Sample()",
    'Write "IRIS-ENVS-M|",' + ',"|",'.join(_FIELDS) + ',"|",!',
]

# The shell half: free memory (MemAvailable, Linux's estimate of memory available without
# swapping, proc(5)) and the free space of the filesystem holding the instance's mgr folder
# (ISC_DATA_DIRECTORY with durable %SYS, iris-facts), printed BEFORE any session starts; under
# the thresholds the session is skipped, since a sample must never add to the pressure.
_PROBE = (
    "m=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo); "
    "d=$(df -Pk \"${ISC_DATA_DIRECTORY:-/usr/irissys}/mgr\" | awk 'NR==2 {print $4}'); "
    'echo "IRIS-ENVS-P|${m:-}|${d:-}|"; '
    'if [ -n "$m" ] && [ "$m" -lt "$IRIS_ENVS_MIN_MEMORY_KB" ]; then exit 0; fi; '
    'if [ -n "$d" ] && [ "$d" -lt "$IRIS_ENVS_MIN_DISK_KB" ]; then exit 0; fi; '
    f"exec iris session {INSTANCE} -U %SYS"
)


def sample_command() -> list[str]:
    """The argv of one sample (its script comes on stdin: ``sample_script``)."""
    return ["sh", "-c", _PROBE]


def sample_environment(min_memory: int, min_disk: int) -> dict[str, str]:
    """The thresholds, in KiB as /proc/meminfo and ``df -Pk`` print them."""
    return {
        "IRIS_ENVS_MIN_MEMORY_KB": str(min_memory // 1024),
        "IRIS_ENVS_MIN_DISK_KB": str(min_disk // 1024),
    }


def sample_script(nonce: str) -> str:
    """The marker-checked ObjectScript of one sample."""
    return wrap_script(SAMPLE_BODY, nonce, capture=True)


@dataclass(frozen=True)
class Reading:
    """One sample: host free memory and disk (bytes, None if unknown) and IRIS's numbers
    (None when no session answered: skipped under pressure, or failed)."""

    free_memory: int | None
    free_disk: int | None
    metrics: dict[str, int] | None


_PRESSURE = re.compile(r"IRIS-ENVS-P\|([0-9]*)\|([0-9]*)\|")
_METRICS = re.compile(r"IRIS-ENVS-M\|((?:-?[0-9]+\|){" + str(len(_FIELDS)) + "})")


def parse_sample(output: str, nonce: str) -> Reading:
    """The reading in one sample's output (unknown parts None)."""
    pressure = _PRESSURE.search(output)
    groups = pressure.groups() if pressure else ("", "")
    memory, disk = (int(v) * 1024 if v else None for v in groups)
    found = None
    if f"IRIS-ENVS-OK-{nonce}" in output:  # the session ran to its end (objectscript.py)
        found = _METRICS.search(written_text(output, nonce))
    if found is None:
        return Reading(memory, disk, None)
    values = [int(v) for v in found.group(1).rstrip("|").split("|")]
    return Reading(memory, disk, _metrics(values))


def _metrics(values: list[int]) -> dict[str, int]:
    """The _FIELDS' values as METRICS (local, private and remote references added up)."""
    refs, updates = sum(values[0:3]), sum(values[3:6])
    journal, reads, writes, commands, licenses = values[6:11]
    return {
        "global_references": refs,
        "global_updates": updates,
        "journal_entries": journal,
        "block_reads": reads,
        "block_writes": writes,
        "routine_commands": commands,
        "license_units": licenses,
    }
