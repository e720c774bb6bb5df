"""IRIS's own metrics of an instance, sampled with one ``iris session`` in %SYS.

The source is ``SYS.Stats.Dashboard.Sample()`` (class reference, %SYS, IRIS 2024.1): "all of
the data that's available on the Dashboard in the System Management Portal", each metric a
property. Counters are cumulative "since system startup" (GloRefs: global references, GloSets:
global sets and kills, RouRefs: routine loads and saves, LogicalReads: logical block requests,
JournalEntries: entries written to the system journal), so a run reports their deltas; gauges
are current values (Processes: "most recent number of running processes", LicenseCurrent:
"current count of license units being used"); LockTable is a state ("Normal", "Warning" past
85 %, "Troubled" past 95 %). The class doc adds that most of the data is collected by the
Application Monitor in %SYS (^%MONAPPMGR): where it is not running, real values may stay 0 or
stale (unverified here; the real_iris test looks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from iris_envs.engine.adapter import DockerEngine
from iris_envs.instance.objectscript import run_session


@dataclass(frozen=True)
class Metric:
    """One Dashboard property: its name in the reports, and whether it is a counter."""

    name: str
    prop: str
    counter: bool
    what: str


METRICS = (
    Metric("global_refs", "GloRefs", True, "global references"),
    Metric("global_sets", "GloSets", True, "global sets and kills"),
    Metric("routine_refs", "RouRefs", True, "routine loads and saves"),
    Metric("logical_reads", "LogicalReads", True, "logical block requests"),
    Metric("journal_entries", "JournalEntries", True, "journal entries written"),
    Metric("processes", "Processes", False, "running processes"),
    Metric("license_units", "LicenseCurrent", False, "license units in use"),
)
STATES = (("lock_table", "LockTable"),)  # status strings, reported as they are
MARKER = "IRISENVS-METRICS"
SAMPLE_TIMEOUT = 60.0


def sample_script() -> list[str]:
    """ObjectScript writing one line ``IRISENVS-METRICS|name=value|...`` (run in %SYS)."""
    fields = [f'"|{m.name}=",d.{m.prop}' for m in METRICS]
    fields += [f'"|{name}=",d.{prop}' for name, prop in STATES]
    return [
        "Set d=##class(SYS.Stats.Dashboard).Sample()",
        f'Write "{MARKER}",' + ",".join(fields) + ",!",
    ]


@dataclass(frozen=True)
class Sample:
    """One reading: numeric metrics (those IRIS answered with a number) and states."""

    values: Mapping[str, float]
    states: Mapping[str, str]


def parse_sample(written: str) -> Sample:
    """The reading in a session's output; ValueError when there is none."""
    for line in written.splitlines():
        if not line.startswith(MARKER + "|"):
            continue
        values: dict[str, float] = {}
        states: dict[str, str] = {}
        numeric = {m.name for m in METRICS}
        for field in line.split("|")[1:]:
            name, _, value = field.partition("=")
            if name in numeric:
                try:
                    values[name] = float(value)
                except ValueError:
                    continue  # an empty property (nothing collected): left out, not 0
            elif name:
                states[name] = value.strip()
        return Sample(values, states)
    raise ValueError(f"no {MARKER} line in the session's output")


def sample(engine: DockerEngine, container_id: str, timeout: float = SAMPLE_TIMEOUT) -> Sample:
    """Read the metrics of the instance in ``container_id`` (ScriptFailed, ValueError)."""
    result = run_session(
        engine,
        container_id,
        sample_script(),
        namespace="%SYS",
        timeout=timeout,
        what="sample IRIS metrics",
        capture=True,
    )
    return parse_sample(result.written)


def deltas(first: Sample, last: Sample) -> dict[str, float]:
    """Counter growth from ``first`` to ``last`` (counters both readings have)."""
    return {
        m.name: last.values[m.name] - first.values[m.name]
        for m in METRICS
        if m.counter and m.name in first.values and m.name in last.values
    }
