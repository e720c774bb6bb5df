"""``iris-envs build``: make sure each selected environment has a verified snapshot image."""

from __future__ import annotations

import argparse

from iris_envs.cli._common import (
    add_config_option,
    add_registry_options,
    add_selection_options,
    load_selected,
    prune_past_max_size,
    remote_cache,
)

HELP = "build (or reuse from the cache) the snapshot image of each selected environment"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``build``."""
    add_config_option(parser)
    add_selection_options(parser)
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="build even when a snapshot with the key exists, and remove the one it replaces "
        "(kept while a container uses it)",
    )
    parser.add_argument(
        "--keep-failed",
        action="store_true",
        help="keep the build container of a failed build for inspection (its name is printed)",
    )
    add_registry_options(parser)


def execute(args: argparse.Namespace) -> int:
    """Build each selected environment in turn; stop at the first failure (exit 5)."""
    from iris_envs.build.snapshot import ensure_snapshot
    from iris_envs.cli.doctor_checks import preflight
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.instance.containers import Owner
    from iris_envs.progress import Reporter

    project, envs = load_selected(args)
    remote = remote_cache(args, project)
    engine = DockerEngine()
    preflight(engine)  # the doctor's cheap checks: engine and cache folder, with their fixes
    owner = Owner()
    for spec in envs:
        reporter = Reporter(spec.name)
        snapshot = ensure_snapshot(
            engine,
            spec,
            owner=owner,
            reporter=reporter,
            rebuild=args.rebuild,
            keep_failed=args.keep_failed,
            remote=remote,
        )
        print(f"{spec.name}: {snapshot.ref} ({snapshot.state})")
    prune_past_max_size(project, engine)
    return 0
