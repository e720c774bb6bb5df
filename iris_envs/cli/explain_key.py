"""``iris-envs explain ENV``: why the environment's snapshot would be rebuilt, input by input."""

from __future__ import annotations

import argparse
import sys

from iris_envs.cli._common import add_config_option, add_offline_option

HELP = "explain why an environment's snapshot would be rebuilt (diff against the newest one)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    parser.add_argument(
        "name", metavar="ENV", nargs="?", help="environment (default: the only default one)"
    )
    add_config_option(parser)
    add_offline_option(parser)


def execute(args: argparse.Namespace) -> int:
    """Compare the current key inputs with the inputs label of the newest snapshot."""
    from iris_envs import naming
    from iris_envs.cli._common import load_one, require_engine
    from iris_envs.key.cache_key import (
        compute_key,
        effective_platform,
        input_files,
        resolve_base_image,
    )
    from iris_envs.key.explain import (
        BUILT,
        cache_state,
        describe_changes,
        newest_snapshot,
        parse_files_label,
        parse_inputs_label,
    )

    _project, spec = load_one(args)
    engine = require_engine(args, "explain")
    base = resolve_base_image(engine, spec.image)
    if base.note:
        print(f"iris-envs: note: {spec.name}: {base.note}", file=sys.stderr)
    result = compute_key(spec, base, effective_platform(spec, engine))
    ref = naming.snapshot_ref(spec.project_root, spec.name, result.key)
    if cache_state(engine, spec, result.key) == BUILT:
        print(f"{spec.name}: up to date ({ref})")
        return 0
    newest = newest_snapshot(engine, spec)
    if newest is None:
        print(f"no snapshot of {spec.name} yet: it would be built as {ref}")
        return 0
    newest_name = newest.tags[0] if newest.tags else newest.id
    old_inputs = parse_inputs_label(newest)
    if old_inputs is None:
        print(
            f"{spec.name}: the newest snapshot {newest_name} carries no readable "
            f"{naming.LABEL_INPUTS} label; it would be rebuilt as {ref}"
        )
        return 0
    lines = describe_changes(
        old_inputs, result.inputs, parse_files_label(newest), input_files(spec)
    )
    if not lines:
        print(f"{spec.name}: up to date (inputs match {newest_name})")
        return 0
    print(f"{spec.name}: would be rebuilt as {ref}; changed since {newest_name}:")
    for line in lines:
        print(f"  - {line}")
    return 0
