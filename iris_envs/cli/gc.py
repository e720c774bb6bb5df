"""``iris-envs gc``: remove containers left behind by iris-envs processes that no longer exist."""

from __future__ import annotations

import argparse

HELP = (
    "remove containers whose iris-envs process is gone (killed runs, crashed builds) and warm "
    "spares that are too old or whose snapshot is gone, and untagged snapshot images no "
    "container uses and no running build still owns"
)


def configure(parser: argparse.ArgumentParser) -> None:
    """``gc --dry-run``."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be removed, and remove nothing",
    )


def execute(args: argparse.Namespace) -> int:
    """Remove orphans and list them (with --dry-run: only list them)."""
    from iris_envs.cache.orphans import collect_orphans, collect_untagged_snapshots
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.progress import human_bytes
    from iris_envs.run.spares import collect_stale_spares

    dry_run = bool(args.dry_run)
    verb = "would remove" if dry_run else "removed"
    engine = DockerEngine()
    removed = collect_orphans(engine, dry_run=dry_run)
    for container in removed:
        print(f"{verb} {container.name} (owner process gone)")
    stale = collect_stale_spares(engine, dry_run=dry_run)
    for container in stale:
        print(f"{verb} {container.name} (spare too old, or its snapshot is gone)")
    images = collect_untagged_snapshots(engine, dry_run=dry_run)
    for image in images:
        print(f"{verb} untagged snapshot image {image.id[7:19]} ({human_bytes(image.size)})")
    if not removed and not stale and not images:
        print("no orphaned containers or images")
    return 0
