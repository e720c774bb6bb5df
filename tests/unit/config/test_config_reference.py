"""docs/config-reference.md is `iris-envs schema` as a page; every field has a description.

A new configuration field without a description, or one missing from the page, fails here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "config_reference", ROOT / "scripts" / "config_reference.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def printed_schema() -> dict[str, Any]:
    """What a user's `iris-envs schema` prints (the CLI, not the function behind it)."""
    done = subprocess.run(
        [sys.executable, "-m", "iris_envs", "schema"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    schema: dict[str, Any] = json.loads(done.stdout)
    return schema


def test_every_field_has_a_description() -> None:
    assert load_generator().undocumented(printed_schema()) == []


def test_a_field_without_a_description_is_reported() -> None:
    schema = printed_schema()
    del schema["$defs"]["env"]["properties"]["image"]["description"]
    assert load_generator().undocumented(schema) == ["env.<name>.image"]


def test_the_configuration_reference_page_is_current() -> None:
    page = (ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert page == load_generator().render(printed_schema()), (
        "docs/config-reference.md is stale: run python scripts/config_reference.py"
    )


def test_the_configuration_guide_has_a_row_for_every_environment_field() -> None:
    guide = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    fields = printed_schema()["$defs"]["env"]["properties"]
    missing = [name for name in fields if f"| `{name}` |" not in guide]
    assert missing == [], f"docs/configuration.md's field table lacks {missing}"
