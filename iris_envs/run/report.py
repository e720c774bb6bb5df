"""The end-of-run summary (tox style) and the JSON report of ``iris-envs run --report``."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from iris_envs import __version__
from iris_envs.cache.folder import atomic_write_json, atomic_write_text
from iris_envs.config.context import format_key_path
from iris_envs.config.locate import locate
from iris_envs.errors import ConfigError, Where
from iris_envs.run import html_report
from iris_envs.run.results import EnvResult

HTML_SUFFIXES = (".html", ".htm")
_LABELS = {"passed": "OK", "failed": "FAIL", "error": "ERROR", "interrupted": "INTERRUPTED"}


def summary_lines(results: Sequence[EnvResult]) -> list[str]:
    """One line per environment: result, exit code and where the time went."""
    lines = []
    for result in results:
        if result.status == "pending":
            lines.append(f"  {result.env}: SKIPPED (not run)")
            continue
        parts = []
        if "snapshot" in result.timings:
            state = result.snapshot_state if result.snapshot_state != "-" else "failed"
            parts.append(f"snapshot {state} {result.timings['snapshot']:.2f}")
        for phase in ("start", "command"):
            if phase in result.timings:
                parts.append(f"{phase} {result.timings[phase]:.2f}")
        total = sum(result.timings.values())
        timing = f" ({' + '.join(parts)} = {total:.2f} s)" if parts else ""
        code = f" code {result.exit_code}" if result.status != "passed" else ""
        lines.append(f"  {result.env}: {_LABELS.get(result.status, result.status)}{code}{timing}")
        if result.monitoring is not None:
            lines.append(f"    IRIS: {monitoring_line(result.monitoring)}")
    return lines


def monitoring_line(monitoring: dict[str, Any]) -> str:
    """The monitor's findings in one line: the counters' deltas, then what went wrong."""
    deltas = monitoring.get("deltas") or {}
    parts = [f"{name.replace('_', ' ')} +{value}" for name, value in deltas.items() if value]
    if not parts:
        parts.append("no activity" if deltas else "no samples")
    if monitoring.get("pressure"):
        first = monitoring["pressure"][0]["reason"]
        parts.append(f"backed off {len(monitoring['pressure'])}x under pressure ({first})")
    if monitoring.get("stopped"):
        parts.append(f"sampling stopped: {monitoring['stopped']}")
    return ", ".join(parts)


def print_summary(results: Sequence[EnvResult], stream: TextIO | None = None) -> None:
    """Print the summary block after all environments ran."""
    out = stream if stream is not None else sys.stderr
    for line in summary_lines(results):
        print(line, file=out)
    if results and all(r.status == "passed" for r in results):
        print("  all environments passed", file=out)
    out.flush()


def report_data(
    results: Sequence[EnvResult], command: Sequence[str], exit_code: int
) -> dict[str, Any]:
    """The JSON report: the same facts as the summary, machine readable (no secrets)."""
    return {
        "tool": "iris-envs",
        "version": __version__,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": list(command),
        "exit_code": exit_code,
        "environments": [_environment(r, _first_start(results)) for r in results],
    }


def _first_start(results: Sequence[EnvResult]) -> float:
    started = [r.started for r in results if r.status != "pending"]
    return min(started) if started else 0.0


def _environment(r: EnvResult, first_start: float) -> dict[str, Any]:
    return {
        "env": r.env,
        "status": r.status,
        # when it began, in seconds after the first environment began (a timeline's origin)
        "offset": round(max(0.0, r.started - first_start), 3) if r.status != "pending" else None,
        "exit_code": r.exit_code,
        "iris_version": r.iris_version,
        "command": list(r.command),
        "snapshot": {
            "state": r.snapshot_state,
            "ref": r.snapshot_ref,
            "image_id": r.image_id,
            "key": r.snapshot_key,
            "reasons": list(r.snapshot_reasons),
            "build_log": r.build_log or None,
            "build_seconds": {k: round(v, 3) for k, v in r.build_timings.items()},
        },
        "container": {"id": r.container_id, "kept": r.container_kept, "spare": r.spare or None},
        "seconds": {k: round(v, 3) for k, v in r.timings.items()},
        "error": r.error,
        "error_at": _error_at(r.where),
        "iris_log": {
            "lines": [{"severity": line.severity, "text": line.text} for line in r.iris_log],
            "total": r.iris_log_total,
        },
        "monitoring": r.monitoring,  # monitor/sampler.py's report, None when not monitored
    }


def _error_at(where: Where | None) -> dict[str, Any] | None:
    """The configuration line an error is about: file, line (None when not found) and key."""
    if where is None:
        return None
    where = locate(where)
    return {
        "file": str(where.file),
        "line": where.line,
        "key": format_key_path("", where.key) if where.key else None,
    }


def check_report_path(path: Path) -> None:
    """Refuse a --report path that cannot be written BEFORE anything runs, so a long test run
    never ends without its report (or, worse, without its exit code)."""
    if path.is_dir():
        raise ConfigError(
            f"--report {path} is a directory", hint="give a file name, e.g. --report report.json"
        )
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(
            f"--report {path}: the folder {folder} does not exist", hint="create it first"
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(
            f"--report {path} cannot be written (permission denied)",
            hint="choose a writable location",
        )


def write_report(path: Path, data: dict[str, Any]) -> str:
    """Write the report atomically (a reader never sees half a file); return '' or the error.
    A ``.html`` or ``.htm`` path gets the HTML report (run/html_report.py), any other JSON.

    A failure (disk full meanwhile) is returned, not raised: the run's exit code matters more.
    """
    try:
        if path.suffix.lower() in HTML_SUFFIXES:
            atomic_write_text(path, html_report.render(data))
        else:
            atomic_write_json(path, data)
    except OSError as error:
        return f"could not write the report {path}: {error.strerror or error}"
    return ""
