"""``iris-envs down [ENV]``: remove the containers that ``iris-envs up`` started."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iris_envs.engine.adapter import DockerEngine

HELP = (
    "remove this project's containers started by `iris-envs up` and those kept by --keep or "
    "--keep-failed (all, or those of -e ENV); --spares removes its warm spares instead"
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``down``."""
    from iris_envs.cli._common import add_config_option, add_env_positional

    add_config_option(parser)
    parser.add_argument(
        "-e", "--env", action="append", metavar="NAME", help="only these environments"
    )
    add_env_positional(parser)
    parser.add_argument(
        "--all-projects",
        action="store_true",
        help="remove the `up` containers of every project on this engine, not only this one's",
    )
    parser.add_argument(
        "--spares",
        action="store_true",
        help="remove the unclaimed warm spares of this project's environments (all, or -e)",
    )


def execute(args: argparse.Namespace) -> int:
    """Remove matching `up` containers and say which."""
    from iris_envs import naming
    from iris_envs.cache.orphans import KEPT_PREFIX
    from iris_envs.cli._common import load_project_from_args, merge_env_positional
    from iris_envs.config.selection import split_names
    from iris_envs.engine.adapter import DockerEngine

    merge_env_positional(args)
    engine = DockerEngine()
    if args.spares:
        return _down_spares(engine, args)
    wanted = set(split_names(args.env))
    labels: dict[str, str | None] = {naming.LABEL_MANAGED: "true", naming.LABEL_ROLE: "up"}
    if not args.all_projects:
        # Another project's `up` container is its developer's database: never ours to remove.
        labels[naming.LABEL_PROJECT] = str(load_project_from_args(args).root)
    removed = 0
    # Kept containers (--keep, --keep-failed) of this project stay until now.
    kept = {k: v for k, v in labels.items() if k != naming.LABEL_ROLE}
    candidates = engine.containers_by_label(labels) + [
        c for c in engine.containers_by_label(kept) if c.name.startswith(KEPT_PREFIX)
    ]
    for container in candidates:
        if wanted and container.labels.get(naming.LABEL_ENV) not in wanted:
            continue
        engine.remove_container(container.id)
        removed += 1
        print(f"removed {container.name}")
    if not removed:
        print("no `iris-envs up` or kept containers to remove")
    return 0


def _down_spares(engine: DockerEngine, args: argparse.Namespace) -> int:
    """Remove the project's available spares (of -e ENV, or of every environment)."""
    from iris_envs.cli._common import load_selected
    from iris_envs.run.spares import remove_spares

    project, envs = load_selected(args)
    if not args.env:
        envs = list(project.envs.values())
    names = [name for spec in envs for name in remove_spares(engine, spec)]
    for name in names:
        print(f"removed {name}")
    if not names:
        print("no spare containers to remove")
    return 0
