"""The end-of-run summary (tox style) and the JSON report of ``iris-envs run --report``."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from iris_envs import __version__
from iris_envs.cache_dir import atomic_write_json
from iris_envs.runner import EnvResult

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
            parts.append(f"snapshot {result.snapshot_state} {result.timings['snapshot']:.2f}")
        for phase in ("start", "command"):
            if phase in result.timings:
                parts.append(f"{phase} {result.timings[phase]:.2f}")
        total = sum(result.timings.values())
        timing = f" ({' + '.join(parts)} = {total:.2f} s)" if parts else ""
        code = f" code {result.exit_code}" if result.status != "passed" else ""
        lines.append(f"  {result.env}: {_LABELS.get(result.status, result.status)}{code}{timing}")
    return lines


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
        "environments": [
            {
                "env": r.env,
                "status": r.status,
                "exit_code": r.exit_code,
                "snapshot": {"state": r.snapshot_state, "ref": r.snapshot_ref},
                "container": {"id": r.container_id, "kept": r.container_kept},
                "seconds": {k: round(v, 3) for k, v in r.timings.items()},
                "error": r.error,
            }
            for r in results
        ],
    }


def write_report(path: Path, data: dict[str, Any]) -> None:
    """Write the report atomically (a reader never sees half a file)."""
    atomic_write_json(path, data)
