"""The HTML run report (``run --report run.html``), made from the JSON report (run/report.py).

One self-contained file, readable offline: inline CSS and SVG, no script, no font or image
from anywhere (a Content-Security-Policy of ``default-src 'none'`` says so to the browser). A
timeline per environment (snapshot, with a built snapshot's phases beneath it, then start and
command, on one time axis from the first environment's start), then per environment the cache
decision and why, the command, the error and the IRIS log lines that mattered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

# Colours: also what tests/integration looks for in a screenshot of the page.
COLOURS = {
    "cached": "#8ecae6",
    "pulled": "#219ebc",
    "built": "#ffb703",
    "build-phase": "#fb8500",
    "build-phase-2": "#f4a261",  # every other phase, so neighbours stay apart
    "start": "#6c757d",
    "passed": "#2a9d8f",
    "failed": "#e63946",
    "error": "#e63946",
    "interrupted": "#adb5bd",
    "chart": "#3a86ff",
}
LABEL_WIDTH = 220  # the SVG's column of environment names
PLOT_WIDTH = 760
ROW_HEIGHT = 46
BAR_HEIGHT = 18
PHASE_HEIGHT = 8

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#212529}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
code,pre{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f1f3f5;padding:10px;white-space:pre-wrap;word-break:break-word}
table{border-collapse:collapse} th{white-space:nowrap}
td,th{padding:3px 10px 3px 0;text-align:left;vertical-align:top}
.passed{color:#1b7a6e} .failed,.error{color:#c1121f} .interrupted{color:#6c757d}
.sev{display:inline-block;min-width:64px;font-weight:600} .severe,.fatal{color:#c1121f}
.warning{color:#b7791f} .legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
svg text{font:12px system-ui,sans-serif;fill:#212529}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _end(entry: Mapping[str, Any]) -> float:
    return float(entry.get("offset") or 0.0) + float(sum(entry["seconds"].values()))


def _bar(x: float, y: float, width: float, height: float, *, colour: str, title: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width, 1.0):.1f}" height="{height}" '
        f'fill="{colour}"><title>{_e(title)}</title></rect>'
    )


def _row(entry: Mapping[str, Any], index: int, scale: float) -> list[str]:
    """One environment's bars: snapshot, start, command, and a built snapshot's phases."""
    y = 10 + index * ROW_HEIGHT
    x = LABEL_WIDTH + float(entry.get("offset") or 0.0) * scale
    name = entry["env"] if len(entry["env"]) <= 28 else entry["env"][:27] + "…"
    out = [f'<text x="0" y="{y + 13}">{_e(name)}</text>']
    state = entry["snapshot"]["state"]
    for phase in ("snapshot", "start", "command"):
        seconds = entry["seconds"].get(phase)
        if seconds is None:
            continue
        if phase == "snapshot":
            colour, label = COLOURS.get(state, COLOURS["error"]), f"snapshot {state}"
        elif phase == "command":
            colour, label = COLOURS.get(entry["status"], COLOURS["failed"]), "command"
        else:
            colour, label = COLOURS["start"], "start"
        title = f"{label}: {seconds:.2f} s"
        out.append(_bar(x, y, seconds * scale, BAR_HEIGHT, colour=colour, title=title))
        if phase == "snapshot" and state == "built":
            phase_x = x
            phases = entry["snapshot"].get("build_seconds", {}).items()
            for number, (name_, took) in enumerate(phases):
                title = f"build {name_}: {took:.2f} s"
                tint = COLOURS["build-phase-2" if number % 2 else "build-phase"]
                out.append(
                    _bar(phase_x, y + BAR_HEIGHT + 3, took * scale, PHASE_HEIGHT,
                         colour=tint, title=title)
                )  # fmt: skip
                phase_x += took * scale
        x += seconds * scale
    if entry["status"] == "error":  # where it stopped
        out.append(_bar(x, y - 3, 3, BAR_HEIGHT + 6, colour=COLOURS["error"], title="error"))
    return out


def _tick_step(total: float) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most 8 ticks over ``total``."""
    step = 10 ** math.floor(math.log10(total / 8)) if total > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if total / (step * factor) <= 8:
            return step * factor
    return step * 10


def timeline(envs: Sequence[Mapping[str, Any]]) -> str:
    """The SVG timeline: one row per environment that ran, on one axis in seconds."""
    ran = [e for e in envs if e["status"] != "pending"]
    total = max((_end(e) for e in ran), default=0.0) or 1.0
    scale = PLOT_WIDTH / total
    height = 20 + max(len(ran), 1) * ROW_HEIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="timeline" '
        f'width="{LABEL_WIDTH + PLOT_WIDTH + 50}" height="{height + 20}">'
    ]
    for index, entry in enumerate(ran):
        parts += _row(entry, index, scale)
    axis_y = height
    step = _tick_step(total)
    for number in range(int(total / step) + 1):
        seconds = number * step
        tx = LABEL_WIDTH + seconds * scale
        parts.append(
            f'<line x1="{tx:.1f}" y1="4" x2="{tx:.1f}" y2="{axis_y}" stroke="#dee2e6"/>'
            f'<text x="{tx - 8:.1f}" y="{axis_y + 14}">{seconds:g} s</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _legend() -> str:
    shown = ("cached", "pulled", "built", "build-phase", "start", "passed", "failed")
    return (
        '<p class="legend">'
        + "".join(f'<span><i style="background:{COLOURS[k]}"></i>{k}</span>' for k in shown)
        + "</p>"
    )


def _facts(entry: Mapping[str, Any]) -> list[str]:
    snapshot, container = entry["snapshot"], entry["container"]
    rows = [
        ("result", f'<span class="{_e(entry["status"])}">{_e(entry["status"])}</span>'),
        ("exit code", _e(entry["exit_code"])),
        ("IRIS version", _e(entry["iris_version"] or "-")),
        ("snapshot", f"{_e(snapshot['state'])} <code>{_e(snapshot.get('ref') or '')}</code>"),
        ("image", f"<code>{_e(snapshot.get('image_id') or '-')}</code>"),
    ]
    reasons = snapshot.get("reasons") or []
    if reasons:
        rows.append(("why", "<br>".join(_e(r) for r in reasons)))
    phases = snapshot.get("build_seconds") or {}
    if phases and snapshot["state"] == "built":
        rows.append(("build", ", ".join(f"{_e(k)} {v:.2f} s" for k, v in phases.items())))
    times = ", ".join(f"{_e(k)} {v:.2f} s" for k, v in entry["seconds"].items())
    rows.append(("times", times or "-"))
    if container.get("spare"):
        rows.append(("warm spare", f"<code>{_e(container['spare'])}</code>"))
    if entry["command"]:
        rows.append(("command", f"<code>{_e(' '.join(entry['command']))}</code>"))
    at = entry.get("error_at")
    if at and at.get("file"):
        where = at["file"] + (f":{at['line']}" if at.get("line") else "")
        rows.append(("declared at", f"<code>{_e(where)}</code>"))
    return ["<table>", *(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows), "</table>"]


def _iris_log(entry: Mapping[str, Any]) -> list[str]:
    log = entry.get("iris_log") or {"lines": [], "total": 0}
    if not log["lines"]:
        return ["<p>IRIS log: no warnings, errors or license messages.</p>"]
    out = ["<p>IRIS log lines that mattered:</p>", "<pre>"]
    for line in log["lines"]:
        severity = line["severity"] or "note"
        out.append(f'<span class="sev {_e(severity)}">{_e(severity)}</span> {_e(line["text"])}')
    out.append("</pre>")
    if log["total"] > len(log["lines"]):
        out.append(f"<p>… and {log['total'] - len(log['lines'])} more.</p>")
    return out


def sparkline(points: Sequence[tuple[float, float]], width: int = 160, height: int = 28) -> str:
    """A small SVG line of (time, value) points, scaled to its own range ('' for < 2 points)."""
    if len(points) < 2:
        return ""
    t0, t1 = points[0][0], points[-1][0]
    low, high = min(v for _, v in points), max(v for _, v in points)
    span_t, span_v = (t1 - t0) or 1.0, (high - low) or 1.0
    xs = [(t - t0) / span_t * (width - 4) + 2 for t, _ in points]
    ys = [height - 2 - (v - low) / span_v * (height - 4) for _, v in points]
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="chart">'
        f'<polyline points="{coords}" fill="none" stroke="{COLOURS["chart"]}" '
        'stroke-width="2"/></svg>'
    )


def _monitoring(entry: Mapping[str, Any]) -> list[str]:
    """The monitor's findings (monitor/sampler.py): per metric the change over the command and
    a chart of its samples, then the pressure backoffs and what stopped sampling."""
    data = entry.get("monitoring")
    if not data:
        return []
    samples = data.get("samples") or []
    out = [
        f"<p>IRIS metrics: {len(samples)} samples, every {data.get('interval', 0):g} s "
        "(monitor)</p>",
        "<table><tr><th>metric</th><th>first</th><th>last</th><th>change</th>"
        "<th>during the command</th></tr>",
    ]
    names = [n for n in (samples[0] if samples else {}) if n != "at"]
    for name in names:
        points = [(float(s["at"]), float(s[name])) for s in samples if s.get(name) is not None]
        if not points:
            continue
        change = (data.get("deltas") or {}).get(name)
        shown = "-" if change is None else f"{change:+g}"
        out.append(
            f"<tr><td>{_e(name)}</td><td>{points[0][1]:g}</td><td>{points[-1][1]:g}</td>"
            f"<td>{shown}</td><td>{sparkline(points)}</td></tr>"
        )
    out.append("</table>")
    for event in data.get("pressure") or ():
        out.append(
            f'<p class="failed">backed off at {float(event.get("at", 0)):g} s: '
            f"{_e(event.get('reason', ''))}</p>"
        )
    if data.get("stopped"):
        out.append(f"<p>sampling stopped: {_e(data['stopped'])}</p>")
    profile = data.get("systemperformance") or {}
    if profile.get("report") or profile.get("problem"):
        out.append(
            f"<p>^SystemPerformance: <code>{_e(profile.get('report') or '')}</code> "
            f"{_e(profile.get('problem') or '')}</p>"
        )
    return out


def render(report: Mapping[str, Any]) -> str:
    """The whole page."""
    envs: Sequence[Mapping[str, Any]] = report["environments"]
    passed = sum(1 for e in envs if e["status"] == "passed")
    verdict = f"{passed} of {len(envs)} environments passed, exit code {report['exit_code']}"
    body = [
        f"<h1>iris-envs run: {_e(verdict)}</h1>",
        f"<p>Command <code>{_e(' '.join(report['command']))}</code>, finished "
        f"{_e(report['finished'])} (iris-envs {_e(report['version'])}).</p>",
        "<h2>Timeline</h2>",
        timeline(envs),
        _legend(),
    ]
    for entry in envs:
        body.append(f'<h2 id="env-{_e(entry["env"])}">{_e(entry["env"])}</h2>')
        body += _facts(entry)
        if entry["error"]:
            body.append(f"<pre>{_e(entry['error'])}</pre>")
        body += _iris_log(entry)
        body += _monitoring(entry)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>iris-envs run: {_e(verdict)}</title>",
            f"<style>{_STYLE}</style></head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )
