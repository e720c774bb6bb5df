"""``iris-envs key ENV``: print the snapshot cache key of an environment."""

from __future__ import annotations

import argparse
import json
import sys

from iris_envs.cli._common import add_config_option, add_offline_option

HELP = "print the snapshot cache key (64 hex digits) of an environment"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument(
        "name", metavar="ENV", nargs="?", help="environment (default: the only default one)"
    )
    add_config_option(parser)
    add_offline_option(parser)
    parser.add_argument(
        "--inputs", action="store_true", help="print the JSON inputs the key is the sha256 of"
    )


def execute(args: argparse.Namespace) -> int:
    """Resolve the base image, compute the key, print it (notes go to stderr)."""
    from iris_envs.cli._common import engine_or_none, load_one
    from iris_envs.key.cache_key import compute_key, effective_platform, resolve_base_image

    _project, spec = load_one(args)
    engine = engine_or_none(args)
    base = resolve_base_image(engine, spec.image)
    result = compute_key(spec, base, effective_platform(spec, engine))
    if base.note:
        print(f"iris-envs: note: {spec.name}: {base.note}", file=sys.stderr)
    if args.inputs:
        print(json.dumps(result.inputs, indent=2, sort_keys=True))
    else:
        print(result.key)
    return 0
