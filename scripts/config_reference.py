"""Write docs/config-reference.md from the JSON Schema `iris-envs schema` prints.

Run ``python scripts/config_reference.py`` after adding or changing a configuration field;
tests/unit/config/test_config_reference.py fails while the page is stale or a field has no
description in ``iris_envs/config/schema.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAGE = ROOT / "docs" / "config-reference.md"


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1] + " table"
    if "anyOf" in node:
        return " or ".join(_type(n) if "description" not in n else "factor" for n in node["anyOf"])
    kind = node.get("type", "")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array" and "items" in node:
        return f"array of {_type(node['items'])}"
    return str(kind) or "any"


def _row(name: str, node: dict[str, Any]) -> str:
    default = f"`{json.dumps(node['default'])}`" if "default" in node else ""
    description = str(node.get("description", "")).replace("|", "/").replace("<", "&lt;")
    return f"| `{name}` | {_type(node)} | {default} | {description} |"


def _table(properties: dict[str, Any], prefix: str = "") -> list[str]:
    rows = [_row(prefix + name, node) for name, node in properties.items()]
    return ["| key | type | default | meaning |", "| --- | --- | --- | --- |", *rows, ""]


def render(schema: dict[str, Any]) -> str:
    """The page for one schema (the one `iris-envs schema` prints)."""
    top = schema["properties"]
    env = schema["$defs"]["env"]["properties"]
    steps = schema["$defs"]["step"]["oneOf"]
    matrix_only = {
        name: node
        for name, node in top["matrix"]["additionalProperties"]["properties"].items()
        if name not in env
    }
    lines = [
        "# Configuration reference",
        "",
        "Generated from the JSON Schema that `iris-envs schema` prints, by",
        "`scripts/config_reference.py`; do not edit by hand. The guide with examples is",
        "[Configuration](configuration.md).",
        "",
        "## Top-level keys",
        "",
        *_table(top),
        "## Environment fields",
        "",
        "In `[env.<name>]`, `[defaults]` and `[matrix.<prefix>]` tables.",
        "",
        *_table(env),
        "## `cache`",
        "",
        *_table(top["cache"]["properties"], "cache."),
        "## Matrix tables",
        "",
        "Besides the environment fields (most of which may be given as a factor, an array",
        "of values), a `[matrix.<prefix>]` table takes:",
        "",
        *_table(matrix_only),
        "## Setup steps",
        "",
        "Each entry of `setup` is a table with exactly one of these kinds.",
        "",
    ]
    for step in steps:
        lines += [f"### {step['title']}", "", *_table(step["properties"])]
    return "\n".join(lines).rstrip() + "\n"


def undocumented(schema: dict[str, Any]) -> list[str]:
    """Schema properties without a description, as dotted paths."""
    missing: list[str] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        for name, child in node.get("properties", {}).items():
            if not child.get("description"):
                missing.append(f"{path}{name}")
            walk(child, f"{path}{name}.")

    walk(schema, "")
    walk(schema["$defs"]["env"], "env.<name>.")
    for step in schema["$defs"]["step"]["oneOf"]:
        walk(step, f"{step['title']}: ")
    return missing


def current_schema() -> dict[str, Any]:
    from iris_envs.config.schema import config_schema

    return config_schema()


if __name__ == "__main__":
    PAGE.write_text(render(current_schema()), encoding="utf-8")
    print(f"wrote {PAGE}")
