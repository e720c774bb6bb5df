"""instance/metrics.py, instance/pressure.py and run/monitor.py: the sampling script, its
reading, the engine host's free memory and disk, and a monitor that backs off instead of
failing the run."""

from __future__ import annotations

from typing import Any

import pytest

from iris_envs.errors import DockerOperationFailed
from iris_envs.instance import metrics
from iris_envs.instance.metrics import Sample, deltas, parse_sample, sample_script
from iris_envs.instance.pressure import Pressure, parse_pressure
from iris_envs.run import monitor as monitor_module
from iris_envs.run.monitor import MAX_FAILURES, Monitor


def test_the_script_reads_every_metric_from_the_dashboard_in_one_line() -> None:
    lines = sample_script()
    assert lines[0] == "Set d=##class(SYS.Stats.Dashboard).Sample()"
    for metric in metrics.METRICS:
        assert f'"|{metric.name}=",d.{metric.prop}' in lines[1]
    assert lines[1].startswith('Write "IRISENVS-METRICS",') and lines[1].endswith(",!")


def test_a_reading_is_parsed_and_an_empty_property_is_left_out() -> None:
    written = (
        "noise\nIRISENVS-METRICS|global_refs=1037|global_sets=|processes=12|lock_table=Normal\n"
    )
    reading = parse_sample(written)
    assert reading.values == {"global_refs": 1037.0, "processes": 12.0}
    assert reading.states == {"lock_table": "Normal"}
    with pytest.raises(ValueError, match="no IRISENVS-METRICS line"):
        parse_sample("<CLASS DOES NOT EXIST>")


def test_deltas_are_for_counters_both_readings_have() -> None:
    first = Sample({"global_refs": 1000, "processes": 10, "global_sets": 5}, {})
    last = Sample({"global_refs": 1370, "processes": 14}, {})
    assert deltas(first, last) == {"global_refs": 370}  # processes is a gauge


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_sampler(clock: Clock, took: float, fail: bool = False) -> Any:
    count = {"n": 0}

    def sampler(engine: object, container_id: str) -> Sample:
        count["n"] += 1
        clock.now += took
        if fail:
            raise DockerOperationFailed("the engine said no\nsecond line")
        return Sample({"global_refs": 1000.0 + 37 * count["n"]}, {"lock_table": "Normal"})

    return sampler


def test_a_slow_reading_doubles_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    mon = Monitor(object(), "c", interval=1.0, sampler=fake_sampler(clock, 0.3), clock=clock)  # type: ignore[arg-type]
    mon.take()
    assert mon.interval == 2.0 and mon.notes == ["a reading took 0.30 s: sampling every 2 s"]
    mon.take()  # 0.3 s of 2 s: fine now
    assert mon.interval == 2.0
    report = mon.report()
    assert report["interval"] == 1.0 and report["final_interval"] == 2.0
    assert report["deltas"] == {"global_refs": 37.0}
    assert [s["t"] for s in report["samples"]] == [0.0, 0.3]


def test_failing_readings_stop_sampling_and_never_raise() -> None:
    clock = Clock()
    mon = Monitor(object(), "c", sampler=fake_sampler(clock, 0.0, fail=True), clock=clock)  # type: ignore[arg-type]
    with mon:
        pass  # before and after: two failures (the thread may add one)
    for _ in range(MAX_FAILURES):
        mon.take()
    assert mon.stopped
    assert mon.notes[0] == "a reading failed: the engine said no"
    assert mon.notes[-1] == f"stopped sampling after {MAX_FAILURES} failed readings"
    assert mon.report()["samples"] == [] and mon.report()["deltas"] == {}


def test_the_block_is_sampled_before_during_and_after() -> None:
    import time

    mon = Monitor(object(), "c", interval=0.05, sampler=fake_sampler(Clock(), 0.0))  # type: ignore[arg-type]
    with mon:
        time.sleep(0.3)
    samples = mon.report()["samples"]
    assert len(samples) >= 4  # before, a few during, after
    assert mon.report()["deltas"]["global_refs"] == 37.0 * (len(samples) - 1)


def test_back_off_and_a_long_run_keeps_the_chart_small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor_module, "MAX_SAMPLES", 10)
    clock = Clock()
    mon = Monitor(object(), "c", interval=1.0, sampler=fake_sampler(clock, 0.0), clock=clock)  # type: ignore[arg-type]
    mon.back_off("the engine host has 3 % memory free")
    assert mon.interval == 4.0 and mon.notes == [
        "the engine host has 3 % memory free: sampling every 4 s"
    ]
    for _ in range(25):
        clock.now += 1
        mon.take()
    assert len(mon.samples) <= 10 and mon.samples[0][0] == 1.0  # the first reading stays


# -- the engine host under pressure (issue 27 item 6) ----------------------------------------

MEMINFO_AND_DF = """\
MemTotal:       24576000 kB
MemFree:          400000 kB
MemAvailable:    1228800 kB
Filesystem     1024-blocks      Used Available Capacity Mounted on
overlay          100000000  96000000   4000000      96% /
"""


def test_a_host_reading_gives_free_memory_and_disk_shares() -> None:
    reading = parse_pressure(MEMINFO_AND_DF)
    assert (reading.memory_free, reading.disk_free) == (5.0, 4.0)
    assert reading.short(10, 10) == "5.0 % of memory free (< 10 %) and 4.0 % of disk free (< 10 %)"
    assert reading.short(5, 4) == ""
    with pytest.raises(ValueError, match="MemAvailable"):
        parse_pressure("MemTotal: 1 kB\n")


def test_under_pressure_monitoring_skips_readings_and_backs_off() -> None:
    clock = Clock()
    readings = iter([Pressure(50, 50), Pressure(3, 50), Pressure(50, 50)])

    def host(engine: object, container_id: str) -> Pressure:
        return next(readings)

    mon = Monitor(
        object(),  # type: ignore[arg-type]
        "c",
        interval=1.0,
        sampler=fake_sampler(clock, 0.0),
        clock=clock,
        pressure=host,
        min_memory=10,
    )
    mon.take()
    clock.now = 2.0
    mon.take()  # short of memory: no IRIS reading, and 4x the interval
    mon.take()
    assert len(mon.samples) == 2 and mon.interval == 4.0
    report = mon.report()["pressure"]
    assert report["events"] == [{"t": 2.0, "short": "3.0 % of memory free (< 10 %)"}]
    assert report["lowest"] == {"memory_free": 3.0, "disk_free": 50.0}
    assert mon.notes == ["the engine host has 3.0 % of memory free (< 10 %): sampling every 4 s"]


def test_a_host_that_cannot_be_read_is_not_checked_again() -> None:
    calls = []

    def broken(engine: object, container_id: str) -> Pressure:
        calls.append(1)
        raise DockerOperationFailed("no sh in this image")

    clock = Clock()
    mon = Monitor(object(), "c", sampler=fake_sampler(clock, 0.0), clock=clock, pressure=broken)  # type: ignore[arg-type]
    mon.take()
    mon.take()
    assert len(calls) == 1 and len(mon.samples) == 2
    assert mon.notes == ["free memory and disk cannot be read: no sh in this image"]
