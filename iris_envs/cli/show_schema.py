"""``iris-envs schema``: print the JSON Schema of the configuration (for editor completion)."""

from __future__ import annotations

import argparse
import json

HELP = "print the JSON Schema of the configuration (iris-envs.toml or [tool.iris-envs])"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument(
        "--pyproject",
        action="store_true",
        help="wrap the schema for a whole pyproject.toml (the table under tool.iris-envs)",
    )


def execute(args: argparse.Namespace) -> int:
    """Print the schema as indented JSON."""
    from iris_envs.config.schema import config_schema, pyproject_schema

    schema = pyproject_schema() if args.pyproject else config_schema()
    print(json.dumps(schema, indent=2))
    return 0
