"""``iris-envs config ENV``: print an environment's resolved manifest, secrets redacted."""

from __future__ import annotations

import argparse
import json
from typing import Any

from iris_envs.cli._common import add_config_option

HELP = "print the resolved configuration of an environment (secrets redacted)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument(
        "name", metavar="ENV", nargs="?", help="environment (default: the only default one)"
    )
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def _text(data: dict[str, Any]) -> str:
    lines = []
    for key, value in data.items():
        if key == "setup":
            if not value:
                lines.append(f"{'setup':<14} (none)")
            for step in value:
                options = " ".join(f"{k}={v}" for k, v in step["options"].items())
                lines.append(
                    f"setup[{step['index']}]".ljust(14)
                    + f" {step['kind']} {step['source']} (namespace {step['namespace']})"
                    + (f" {options}" if options else "")
                )
        else:
            shown = value if isinstance(value, str) else json.dumps(value)
            lines.append(f"{key:<14} {shown}")
    return "\n".join(lines)


def execute(args: argparse.Namespace) -> int:
    """Load and print the manifest."""
    from iris_envs.cli._common import load_one
    from iris_envs.config.secrets import redacted_manifest

    _project, spec = load_one(args)
    data = redacted_manifest(spec)
    print(json.dumps(data, indent=2) if args.json else _text(data))
    return 0
