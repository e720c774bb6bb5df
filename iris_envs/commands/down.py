"""``iris-envs down [ENV]``: remove the containers that ``iris-envs up`` started."""

from __future__ import annotations

import argparse

HELP = "remove the long-lived containers started by `iris-envs up` (all, or those of -e ENV)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``down``."""
    parser.add_argument(
        "-e", "--env", action="append", metavar="NAME", help="only these environments"
    )


def execute(args: argparse.Namespace) -> int:
    """Remove matching `up` containers and say which."""
    from iris_envs import naming
    from iris_envs.docker_adapter import DockerEngine
    from iris_envs.selection import split_names

    engine = DockerEngine()
    wanted = set(split_names(args.env))
    removed = 0
    for container in engine.containers_by_label(
        {naming.LABEL_MANAGED: "true", naming.LABEL_ROLE: "up"}
    ):
        if wanted and container.labels.get(naming.LABEL_ENV) not in wanted:
            continue
        engine.remove_container(container.id)
        removed += 1
        print(f"removed {container.name}")
    if not removed:
        print("no `iris-envs up` containers to remove")
    return 0
