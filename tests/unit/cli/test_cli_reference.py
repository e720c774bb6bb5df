"""docs/cli.md is the parser's own description, and every command and option has help."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "scripts" / "cli_reference.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_command_and_option_has_help() -> None:
    assert load_generator().undocumented() == []


def test_the_cli_reference_page_is_current() -> None:
    generator = load_generator()
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page == generator.render(), "docs/cli.md is stale: run python scripts/cli_reference.py"
