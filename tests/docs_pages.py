"""Run a documentation page as written: write its files, run its commands, compare the output
with the lines the page shows under each command (docs/quickstart.md, docs/nox.md).

The page is read top to bottom: a fenced block with ``title="PATH"`` writes that file into the
project; a ``console`` block runs each ``$ command`` (through the shell, stderr merged into
stdout, as a terminal shows them) and compares the output with the lines under it.

How a line is compared (the pages say this in one sentence at the top):

- whitespace runs count as one space;
- the values in ``VARIABLE`` differ from run to run or machine to machine (times, sizes,
  dates, hex keys and ids, versions, paths and addresses, CPU counts, the length of a rule of
  ``=``): on both sides each becomes a
  placeholder naming its kind, so the page shows a realistic value and every word around it
  still has to match;
- a step's heartbeat line (``NAME: STEP ... DETAIL (N s)``) matches any number of heartbeats
  of that step, none included: how many a step prints depends on how fast the machine is;
- a line of only ``...`` matches any number of lines (for output whose length is not the
  page's to decide); ``...`` inside a line is literal text, as in the progress lines
  ``default: commit snapshot ...``;
- when the page shows the progress lines of two or more environments at once (``run -p``),
  their lines interleave differently on every run: each environment's lines are compared in
  their order, the interleaving is not (see ``by_environment``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="([^"]+)"')

# Values that differ between runs or machines, in the order they are replaced (a date before
# the numbers in it, an address before the path in it). A value is only one when it stands
# alone: `iris-2024.1` or `myimage:2025.1` stay literal, so a renamed version still fails.
_ALONE = r"(?<![\w.:/-])"
VARIABLE: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("date", r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"),
        ("address", r"\b[a-z][a-z0-9+]*://[^\s,)]+|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"),
        ("path", _ALONE + r"/[^\s,;:)'\"]*"),
        # Three parts at least, so also after a name (`pytest-9.2.0`), unlike `iris-2024.1`.
        ("version", r"(?<![\w.])\d+\.\d+\.\d+[\w.+~-]*"),
        ("hex", r"\b[0-9a-f]{8,64}\b"),
        ("size", _ALONE + r"\d[\d,]*(?:\.\d+)? ?(?:B|kB|KB|KiB|MB|MiB|GB|GiB|TB|bytes)\b"),
        ("duration", _ALONE + r"\d+(?:\.\d+)? ?(?:s|ms|seconds?|minutes?)\b"),
        # The figures of a summary line (`built 4.66 + start 1.73`): only with a fraction, so
        # counts (`1 passed`) stay literal.
        ("seconds", _ALONE + r"\d+\.\d+(?![\w.])"),
        ("cpus", _ALONE + r"\d+(?= CPUs?\b)"),
        # pytest centres its summary in a line of `=`: their number follows the text's length.
        ("rule", r"={3,}|_{3,}"),
    )
)

# A slow step's heartbeat, `NAME: STEP ... DETAIL (N s)` (iris_envs/progress.py): printed at most
# every 5 s, so a loaded machine prints more of them and a fast one may print none. A heartbeat
# the page shows stands for any number (none included) of heartbeats of the same step.
HEARTBEAT = re.compile(r"^([A-Za-z0-9][\w.-]*: .+? \.\.\. ).+ \(\d+ s\)$")
# `NAME: message`, a progress line of one environment (unindented; the summary is indented).
PROGRESS = re.compile(r"^([A-Za-z0-9][\w.-]*): ")
# `===== NAME: output =====`: a parallel run's captured output of one environment follows.
SECTION = re.compile(r"^===== ([A-Za-z0-9][\w.-]*): output =====$")


@dataclass(frozen=True)
class Step:
    """Write a file, or run a command and expect output."""

    path: str | None = None
    text: str = ""
    command: str | None = None
    expected: tuple[str, ...] = ()


def page_steps(page: str) -> list[Step]:
    """The page's files and commands, in order."""
    steps: list[Step] = []
    for fence in FENCE.finditer(page):
        language, info, body = fence.groups()
        title = TITLE.search(info)
        if title:
            steps.append(Step(path=title.group(1), text=body))
        elif language == "console":
            command: str | None = None
            expected: list[str] = []
            for line in body.splitlines():
                if line.startswith("$ "):
                    if command is not None:
                        steps.append(Step(command=command, expected=tuple(expected)))
                    command, expected = line[2:], []
                else:
                    expected.append(line)
            assert command is not None, f"a console block without a command:\n{body}"
            steps.append(Step(command=command, expected=tuple(expected)))
    return steps


def normalize(line: str) -> str:
    """The line as compared: whitespace squashed, each variable value a ``<kind>``."""
    line = " ".join(line.split())
    for name, pattern in VARIABLE:
        line = pattern.sub(f"<{name}>", line)
    return line


def by_environment(lines: list[str], names: set[str]) -> list[str]:
    """The lines with each environment's own lines together, environments in name order, the
    rest (the summary) after them in its order.

    An environment's lines are its progress lines (``NAME: ...``) and its output section (the
    ``===== NAME: output =====`` line and what follows, up to the next line of another kind).
    """
    streams: dict[str, list[str]] = {name: [] for name in sorted(names)}
    rest: list[str] = []
    section: str | None = None
    for line in lines:
        header = SECTION.match(line)
        progress = PROGRESS.match(line)
        if header and header.group(1) in names:
            section = header.group(1)
        elif progress and progress.group(1) in names:
            section = None
            streams[progress.group(1)].append(line)
            continue
        elif line[:1].isspace():
            section = None  # the indented summary ends the last section
        if section is not None:
            streams[section].append(line)
        else:
            rest.append(line)
    return [line for stream in streams.values() for line in stream] + rest


def _pattern(lines: list[str]) -> re.Pattern[str]:
    parts = []
    for line in lines:
        squashed = normalize(line)
        heartbeat = HEARTBEAT.match(" ".join(line.split()))
        if squashed == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        elif heartbeat:
            step = re.escape(normalize(heartbeat.group(1)) + " ")
            parts.append(rf"(?:{step}[^\n]*\(<duration>\)\n)*")
        else:
            parts.append(re.escape(squashed) + r"\n")
    return re.compile("".join(parts))


def matches(expected: tuple[str, ...] | list[str], output: str) -> bool:
    """Does ``output`` read as the page's ``expected`` lines (module docstring)?"""
    wanted, got = list(expected), output.splitlines()
    names = {m.group(1) for m in map(PROGRESS.match, wanted) if m}
    if len(names) > 1:
        wanted, got = by_environment(wanted, names), by_environment(got, names)
    return _pattern(wanted).fullmatch("".join(normalize(line) + "\n" for line in got)) is not None


def write_file(step: Step, project: Path) -> None:
    assert step.path is not None
    target = project / step.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(step.text, encoding="utf-8")


def run_command(step: Step, project: Path, env: Mapping[str, str], timeout: float) -> str:
    """Run the step's command as a terminal would; its output (stdout and stderr)."""
    assert step.command is not None
    done = subprocess.run(
        ["bash", "-c", step.command + " 2>&1"],
        cwd=project,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"$ {step.command}\n{done.stdout[-6000:]}"
    return done.stdout


def play(
    page: Path, project: Path, env: Mapping[str, str], timeout: float
) -> Iterator[tuple[Step, str]]:
    """Go through ``page`` in ``project``: write its files, run its commands and check each
    output; yield each command's step and output for the caller's own checks."""
    for step in page_steps(page.read_text(encoding="utf-8")):
        if step.path is not None:
            write_file(step, project)
            continue
        output = run_command(step, project, env, timeout)
        assert matches(step.expected, output), (
            f"$ {step.command}\n--- the page shows:\n"
            + "\n".join(step.expected)
            + f"\n--- it printed:\n{output[-6000:]}"
        )
        yield step, output
