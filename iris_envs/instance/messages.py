"""The lines of an IRIS container's log that matter to a test run: warnings and worse, license
trouble, an abnormal shutdown.

messages.log (which iris-main also prints to the container's log, after ``[INFO] log: ``) writes
``MM/DD/YY-HH:MM:SS:mmm (pid) severity [category] message``; severity is -2 (Debug2),
-1 (Debug), 0 (Information), 1 (Warning), 2 (Severe) or 3 (Fatal) (class reference of
%SYS.System, WriteToConsoleLog). A line without that shape (another program's output, an older
image) counts only when it names a license or an abnormal shutdown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(
    r"(?P<stamp>\d\d/\d\d/\d\d-\d\d:\d\d:\d\d:\d{3}) \((?P<pid>\d+)\) (?P<severity>-?\d) "
    r"\[(?P<category>[^\]]*)\] (?P<message>.*)"
)
_NOTABLE_TEXT = re.compile(r"licen[cs]e|abnormal", re.IGNORECASE)
SEVERITY_NAMES = {1: "warning", 2: "severe", 3: "fatal"}
MAX_LINES = 100  # per container: the report shows the first ones and counts the rest


@dataclass(frozen=True)
class LogLine:
    """One notable line: its severity name ('' when the line has none) and text as logged."""

    severity: str
    text: str


def notable_lines(log: str, limit: int = MAX_LINES) -> tuple[list[LogLine], int]:
    """The notable lines of a container log (at most ``limit``) and how many there were."""
    found: list[LogLine] = []
    total = 0
    for raw in log.splitlines():
        text = raw.strip()
        match = _LINE.search(text)
        if match is not None:
            severity = int(match.group("severity"))
            if severity < 1 and not _NOTABLE_TEXT.search(match.group("message")):
                continue
            name = SEVERITY_NAMES.get(severity, "information")
            text = text[match.start() :]
        elif _NOTABLE_TEXT.search(text):
            name = ""
        else:
            continue
        total += 1
        if len(found) < limit:
            found.append(LogLine(name, text))
    return found, total
