"""Write docs/cli.md from the argparse parser, so the CLI reference cannot drift.

Run ``python scripts/cli_reference.py`` after changing a command or option;
tests/unit/cli/test_cli_reference.py fails while the page is stale or an option lacks help.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAGE = ROOT / "docs" / "cli.md"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _section(name: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    usage = parser.format_usage().strip().removeprefix("usage: ")
    lines = [
        f"{'#' * level} `{name}`",
        "",
        parser.description or "",
        "",
        "```console",
        usage,
        "```",
        "",
    ]
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        flags = ", ".join(action.option_strings) or (action.metavar or action.dest)
        rows.append(f"| `{flags}` | {(action.help or '').replace('|', '/')} |")
    if rows:
        lines += ["| option | meaning |", "| --- | --- |", *rows, ""]
    for child, sub in _subparsers(parser).items():
        lines += _section(f"{name} {child}", sub, level + 1)
    return lines


def render() -> str:
    """The page; usage lines are wrapped at 100 columns whatever the terminal is."""
    from iris_envs.cli.main import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps usage at the terminal width
    try:
        return _render(build_parser())
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _render(parser: argparse.ArgumentParser) -> str:
    lines = [
        "# Command-line reference",
        "",
        "Generated from the parser by `scripts/cli_reference.py`; do not edit by hand.",
        "",
    ]
    for name, sub in _subparsers(parser).items():
        lines += _section(f"iris-envs {name}", sub, 2)
    return "\n".join(lines).rstrip() + "\n"


def undocumented() -> list[str]:
    """Options and commands without help text."""
    from iris_envs.cli.main import build_parser

    missing = []

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        if not parser.description:
            missing.append(f"{name}: no description")
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
        for child, sub in _subparsers(parser).items():
            walk(f"{name} {child}", sub)

    for name, sub in _subparsers(build_parser()).items():
        walk(name, sub)
    return missing


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE}")
