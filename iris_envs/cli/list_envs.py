"""``iris-envs list``: the environments, their images, tags and snapshot cache state."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from iris_envs.cli._common import add_config_option, add_selection_options

if TYPE_CHECKING:
    from iris_envs.config.spec import EnvSpec
    from iris_envs.engine.adapter import DockerEngine

HELP = "list environments with image, tags, description and cache state (built/stale/missing)"

UNKNOWN = "unknown"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    add_config_option(parser)
    add_selection_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def _state(engine: DockerEngine | None, spec: EnvSpec) -> tuple[str, str | None, str]:
    """The cache state, the key, and the platform the snapshot is (or would be) built for."""
    from iris_envs.key.cache_key import compute_key, effective_platform, resolve_base_image
    from iris_envs.key.explain import cache_state

    base = resolve_base_image(engine, spec.image)
    platform = effective_platform(spec, engine)
    key = compute_key(spec, base, platform).key
    if engine is None:
        return UNKNOWN, key, platform
    return cache_state(engine, spec, key), key, platform


def execute(args: argparse.Namespace) -> int:
    """List every environment (or the -e/-m selection); exit 0 even without an engine."""
    from iris_envs.cli._common import engine_or_none, load_project_from_args
    from iris_envs.config.selection import select_envs
    from iris_envs.errors import DockerUnavailable

    project = load_project_from_args(args)
    specs = (
        select_envs(project, args.env, args.tag)
        if args.env or args.tag
        else list(project.envs.values())
    )
    engine = engine_or_none(args)
    reason = "--offline" if engine is None else None
    rows: list[dict[str, Any]] = []
    for spec in specs:
        try:
            state, key, platform = _state(engine, spec)
        except DockerUnavailable as error:
            # Listing is useful without Docker (like `tox -l`): degrade to "unknown" and say why.
            engine, reason = None, f"Docker engine unavailable: {error.message}"
            state, key, platform = _state(None, spec)
        rows.append(
            {
                "name": spec.name,
                "image": spec.image,
                "edition": spec.edition.value,
                "description": spec.description,
                "tags": list(spec.tags),
                "default": spec.name in project.default,
                "state": state,
                "key": key,
                "platform": platform,  # the environment's `platform`, else the engine's
            }
        )
    if reason:
        print(f"iris-envs: note: cache state unknown ({reason})", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "STATE", "IMAGE", "PLATFORM", "TAGS", "DESCRIPTION")
    table = [header] + [
        (
            ("* " if r["default"] else "  ") + r["name"],
            r["state"],
            r["image"],
            r["platform"],
            ",".join(r["tags"]),
            r["description"],
        )
        for r in rows
    ]
    table[0] = ("  " + header[0], *header[1:])
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    return 0
