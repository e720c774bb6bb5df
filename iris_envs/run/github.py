"""GitHub Actions output of a run, made from its JSON report (run/report.py).

- A job summary appended to ``$GITHUB_STEP_SUMMARY`` (GitHub-flavoured Markdown): one table
  row per environment, then per environment why its snapshot was cached, pulled or built, the
  build's phases, the command as run and the error.
- Workflow commands on stdout: ``::error file=F,line=L,title=T::message`` for an error the
  configuration is the cause of (pointing at the line that declares the failing step or the
  bad value), an ``::error`` per failed environment, and each build log folded in a
  ``::group::`` with workflow commands stopped inside it (a log line can never act as one).

The formats are GitHub's documented ones ("Workflow commands for GitHub Actions": annotation
properties escape ``%`` ``\\r`` ``\\n`` ``:`` ``,``, messages ``%`` ``\\r`` ``\\n``; "Adding a
job summary": Markdown, at most 1 MiB per step).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from iris_envs.config.locate import locate
from iris_envs.errors import IrisEnvsError

SUMMARY_LIMIT = 1024 * 1024  # GitHub refuses a larger step summary
ERROR_LIMIT = 4000  # characters of one error in the summary (the log has it all)
LOG_LIMIT = 512 * 1024  # the tail of a build log folded into the job log
_ICONS = {"passed": "✅", "failed": "❌", "error": "❌", "interrupted": "⚠️", "pending": "⏭️"}
_LEVELS = ("error", "warning", "notice")


def enabled(flag: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """``--github``/``--no-github`` when given, else whether this runs in GitHub Actions."""
    if flag is not None:
        return flag
    return (environ if environ is not None else os.environ).get("GITHUB_ACTIONS") == "true"


# -- workflow commands ---------------------------------------------------------------------


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
) -> str:
    """One ``::error``/``::warning``/``::notice`` line."""
    if level not in _LEVELS:
        raise ValueError(f"not an annotation level: {level}")
    properties = []
    if file:
        properties.append(f"file={escape_property(file)}")
        if line is not None:
            properties.append(f"line={line}")
    if title:
        properties.append(f"title={escape_property(title)}")
    head = f"::{level} {','.join(properties)}" if properties else f"::{level}"
    return f"{head}::{escape_data(message)}"


def workspace_path(path: str | Path, environ: Mapping[str, str] | None = None) -> str:
    """``path`` relative to ``$GITHUB_WORKSPACE`` (else the current folder) when inside it:
    annotations attach to a pull request's files by their path in the repository."""
    environ = environ if environ is not None else os.environ
    base = Path(environ.get("GITHUB_WORKSPACE") or Path.cwd())
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except (ValueError, OSError):
        return str(path)


def error_annotation(
    error: IrisEnvsError, title: str = "iris-envs", environ: Mapping[str, str] | None = None
) -> str:
    """The annotation for an error that ended a command (a configuration error, a failed
    setup step): at the configuration line it is about, when it is about one."""
    if error.where is None:
        return annotation("error", str(error), title=title)
    where = locate(error.where)
    file = workspace_path(where.file, environ)
    return annotation("error", str(error), file=file, line=where.line, title=title)


def env_annotations(
    report: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> list[str]:
    """One annotation per environment that did not pass, from the JSON report."""
    out = []
    for entry in report["environments"]:
        status, title = entry["status"], f"iris-envs: {entry['env']}"
        if status == "error":
            at = entry.get("error_at") or {}
            file = workspace_path(at["file"], environ) if at.get("file") else None
            out.append(
                annotation("error", entry["error"], file=file, line=at.get("line"), title=title)
            )
        elif status == "failed":
            command = " ".join(entry["command"])
            message = f"the command exited with code {entry['exit_code']}: {command}"
            out.append(annotation("error", message, title=title))
        elif status == "interrupted":
            out.append(annotation("warning", "interrupted", title=title))
    return out


def folded_log(title: str, text: str) -> list[str]:
    """``text`` folded in a ``::group::``, with workflow commands stopped inside it."""
    token = secrets.token_hex(16)
    body = text if text.endswith("\n") or not text else text + "\n"
    return [
        f"::group::{escape_data(title)}",
        f"::stop-commands::{token}",
        *body.splitlines(),
        f"::{token}::",
        "::endgroup::",
    ]


def build_log_groups(report: Mapping[str, Any]) -> list[str]:
    """Each environment's build log (built here, or failed to build) as a folded group."""
    lines: list[str] = []
    for entry in report["environments"]:
        log = (entry.get("snapshot") or {}).get("build_log")
        if not log:
            continue
        try:
            with Path(log).open("rb") as handle:
                size = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, size - LOG_LIMIT))
                text = handle.read().decode("utf-8", errors="replace")
        except OSError as error:
            text = f"(the build log {log} cannot be read: {error.strerror or error})"
        else:
            if size > LOG_LIMIT:
                text = f"(the last {LOG_LIMIT // 1024} KiB of {log})\n{text}"
        lines += folded_log(f"iris-envs build log: {entry['env']}", text)
    return lines


# -- the job summary -----------------------------------------------------------------------


def code(text: str) -> str:
    """An inline code span holding ``text`` as is (also inside a table cell)."""
    text = " ".join(str(text).split()) or " "
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def fenced(text: str, info: str = "text") -> list[str]:
    """A fenced code block holding ``text`` as is."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *text.splitlines(), fence]


def _seconds(entry: Mapping[str, Any], phase: str) -> str:
    value = entry["seconds"].get(phase)
    return f"{value:.2f} s" if value is not None else "-"


def _row(entry: Mapping[str, Any]) -> str:
    snapshot, container = entry["snapshot"], entry["container"]
    image = snapshot.get("image_id") or ""
    digest = f" {code(image.removeprefix('sha256:')[:12])}" if image else ""
    state = snapshot["state"] if snapshot["state"] != "-" else "-"
    if container.get("spare"):
        started = f"spare {code(container['spare'])}"
    elif container.get("id"):
        started = "started"
    else:
        started = "-"
    cells = [
        code(entry["env"]),
        f"{_ICONS.get(entry['status'], '')} {entry['status']}",
        code(entry["iris_version"]) if entry["iris_version"] else "-",
        f"{state}{digest}",
        _seconds(entry, "snapshot"),
        _seconds(entry, "start"),
        _seconds(entry, "command"),
        str(entry["exit_code"]),
        started,
    ]
    return "| " + " | ".join(cells) + " |"


_HEADER = [
    "| environment | result | IRIS | snapshot (image) | snapshot time | start | command "
    "| exit code | container |",
    "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
]


def _details(entry: Mapping[str, Any], environ: Mapping[str, str] | None) -> list[str]:
    snapshot = entry["snapshot"]
    lines = [f"### {code(entry['env'])}: {entry['status']}", ""]
    if snapshot.get("ref"):
        lines.append(f"- snapshot **{snapshot['state']}**: {code(snapshot['ref'])}")
        if snapshot.get("image_id"):
            lines.append(f"- image {code(snapshot['image_id'])}")
    for reason in snapshot.get("reasons") or ():
        lines.append(f"  - {code(reason)}")
    phases = snapshot.get("build_seconds") or {}
    if phases and snapshot.get("state") == "built":
        timed = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items())
        lines.append(f"- build phases: {timed}")
    if entry["command"]:
        lines.append(f"- command: {code(' '.join(entry['command']))}")
    if snapshot.get("build_log"):
        lines.append(f"- build log: folded in the job log as {code('iris-envs build log')}")
    monitoring = entry.get("monitoring") or {}
    changes = monitoring.get("deltas") or {}
    if changes:
        shown = ", ".join(code(f"{name} {value:+g}") for name, value in changes.items())
        lines.append(f"- IRIS metrics, what the command added: {shown}")
    for event in (monitoring.get("pressure") or [])[:1]:  # the first backoff, with its count
        count = len(monitoring["pressure"])
        lines.append(f"- ⚠️ monitoring backed off {count} time(s): {code(event.get('reason', ''))}")
    at = entry.get("error_at")
    if at and at.get("file"):
        where = workspace_path(at["file"], environ) + (f":{at['line']}" if at.get("line") else "")
        lines.append(
            f"- declared at {code(where)}" + (f" ({code(at['key'])})" if at["key"] else "")
        )
    if entry["error"]:
        error = entry["error"]
        if len(error) > ERROR_LIMIT:
            error = error[:ERROR_LIMIT] + "\n... (cut here: the job log has it all)"
        lines += ["", *fenced(error)]
    return [*lines, ""]


def summary_markdown(report: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The job summary of one run, from its JSON report (files named relative to
    ``$GITHUB_WORKSPACE``)."""
    envs: Sequence[Mapping[str, Any]] = report["environments"]
    passed = sum(1 for e in envs if e["status"] == "passed")
    verdict = (
        f"all {len(envs)} passed" if passed == len(envs) else f"{passed} of {len(envs)} passed"
    )
    lines = [
        f"## iris-envs run: {verdict} (exit code {report['exit_code']})",
        "",
        f"Command: {code(' '.join(report['command']))}",
        "",
        *_HEADER,
        *(_row(e) for e in envs),
        "",
    ]
    for entry in envs:
        lines += _details(entry, environ)
    text = "\n".join(lines)
    if len(text.encode()) > SUMMARY_LIMIT - 1024:  # keep the table, cut the details
        text = "\n".join([*lines[: 6 + len(envs) + 1], "(details cut: the summary limit is 1 MiB)"])
    return text + "\n"


# -- publishing ----------------------------------------------------------------------------


def publish(
    report: Mapping[str, Any],
    *,
    stream: TextIO,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Print the annotations and folded build logs, append the summary to
    ``$GITHUB_STEP_SUMMARY`` when set; return '' or why the summary could not be written."""
    environ = environ if environ is not None else os.environ
    _print(stream, build_log_groups(report))
    _print(stream, env_annotations(report, environ))
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return ""
    try:
        with Path(target).open("a", encoding="utf-8") as summary:
            summary.write(summary_markdown(report, environ))
    except OSError as error:
        return f"could not write the job summary {target}: {error.strerror or error}"
    return ""


def _print(stream: TextIO, lines: Iterable[str]) -> None:
    for line in lines:
        stream.write(line + "\n")
    stream.flush()
