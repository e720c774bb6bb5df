"""run/html_report.py and instance/messages.py: the HTML run report is one self-contained page
with a timeline, the cache decisions and the IRIS log lines that mattered; hostile text stays
text. (tests/integration/test_run_outputs.py screenshots a real run's page in Chromium.)"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from iris_envs.instance.messages import LogLine, notable_lines
from iris_envs.run import html_report
from iris_envs.run.report import report_data, write_report
from iris_envs.run.results import EnvResult

HOSTILE = '<script>alert(1)</script> & "quoted" <img src=x onerror=y>'
# Lines as real IRIS writes them (messages.log; the last two from public container logs).
IRIS_LOG = """\
[INFO] Starting InterSystems IRIS instance IRIS...
[INFO] log: 12/04/26-13:02:11:100 (410) 0 [Generic.Event] Allocated 1102MB shared memory
[INFO] log: 12/04/26-13:02:11:200 (410) 0 [Generic.Event] LMF Info:  Licensed for 8 users.
12/04/26-13:02:12:300 (411) 1 [Utility.Event] Preserving journal files
12/04/26-13:02:13:400 (2334) 2 [Generic.Event] License limit exceeded 1 times since instance start.
12/04/26-13:02:14:500 (410) 0 [Utility.Event] Enabling logons
Invalid Community Edition license, may have exceeded core limit
"""


# What monitor/sampler.py reports (EnvResult.monitoring).
MONITORING = {
    "interval": 1.0,
    "deltas": {"global_references": 296, "journal_entries": 8},
    "gauges": {"license_units": {"min": 1, "max": 1, "last": 1}},
    "samples": [
        {"at": 0.0, "global_references": 1000, "journal_entries": 50, "license_units": 1},
        {"at": 1.0, "global_references": 1148, "journal_entries": 54, "license_units": 1},
        {"at": 2.0, "global_references": 1296, "journal_entries": 58, "license_units": 1},
    ],
    "pressure": [{"at": 1.5, "reason": HOSTILE, "free_memory": 1, "free_disk": None}],
    "failed": 0,
    "stopped": None,
}


class Page(HTMLParser):
    """Tags, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def results() -> list[EnvResult]:
    built = EnvResult("iris-2024.1", status="passed", iris_version="2024.1.0.0.0")
    built.snapshot_state, built.snapshot_ref = "built", "iris-envs/iris-2024.1:0123456789ab"
    built.snapshot_reasons = ["no snapshot of iris-2024.1 exists yet"]
    built.build_timings = {"pull": 0.1, "start": 2.0, "setup": 1.0, "commit": 0.3, "verify": 2}
    built.timings = {"snapshot": 6.0, "start": 1.5, "command": 2.5}
    built.iris_log, built.iris_log_total = notable_lines(IRIS_LOG)
    failed = EnvResult("iris-2025.1", status="failed", exit_code=1, iris_version=HOSTILE)
    failed.snapshot_state = "cached"
    failed.snapshot_reasons = [HOSTILE]
    failed.timings = {"snapshot": 1.0, "start": 0.3, "command": 4.0}
    failed.started = built.started + 0.5
    failed.error = HOSTILE
    built.monitoring = MONITORING
    return [built, failed]


def test_notable_log_lines_are_warnings_and_worse_and_license_lines() -> None:
    lines, total = notable_lines(IRIS_LOG)
    assert [(line.severity, line.text[:22]) for line in lines] == [
        ("information", "12/04/26-13:02:11:200 "),  # a license line, though severity 0
        ("warning", "12/04/26-13:02:12:300 "),
        ("severe", "12/04/26-13:02:13:400 "),
        ("", "Invalid Community Edit"),  # no messages.log shape: kept for "license"
    ]
    assert total == 4
    assert notable_lines(IRIS_LOG, limit=1) == ([lines[0]], 4)
    assert lines[0] == LogLine("information", lines[0].text)
    assert not lines[0].text.startswith("[INFO]")  # the iris-main prefix is dropped


def test_the_page_is_self_contained_and_keeps_hostile_text_as_text() -> None:
    page_text = html_report.render(report_data(results(), ["pytest"], 1))
    page = Page()
    page.feed(page_text)
    tags = [tag for tag, _ in page.tags]
    assert "script" not in tags and "img" not in tags and "link" not in tags
    for _, attrs in page.tags:  # nothing loaded from anywhere: readable offline
        assert not {"src", "href"} & set(attrs)
    [csp] = [a for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp["content"] == "default-src 'none'; style-src 'unsafe-inline'"
    text = "".join(page.text)
    assert text.count(HOSTILE) == 4  # the version, reason, error and backoff reason, as text
    assert "no snapshot of iris-2024.1 exists yet" in text
    assert "License limit exceeded" in text and "and 1 more" not in text
    assert tags.count("svg") == 1 + 3  # the timeline, and a chart per monitored metric
    assert tags.count("polyline") == 3
    assert "+296" in text and "backed off at 1.5 s" in text
    bars = [a for t, a in page.tags if t == "rect"]
    assert len(bars) == 6 + 5  # 3 bars per environment, 5 build phases under the built one


def test_write_report_chooses_html_by_the_file_name(tmp_path: Path) -> None:
    data = report_data(results(), ["pytest"], 1)
    assert write_report(tmp_path / "run.html", data) == ""
    assert write_report(tmp_path / "run.json", data) == ""
    assert (tmp_path / "run.html").read_text().startswith("<!DOCTYPE html>")
    entry = json.loads((tmp_path / "run.json").read_text())["environments"][0]
    assert entry["offset"] == 0.0 and entry["iris_log"]["total"] == 4
