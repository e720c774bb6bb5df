"""``iris-envs gc``: remove containers left behind by iris-envs processes that no longer exist."""

from __future__ import annotations

import argparse

HELP = "remove containers whose iris-envs process is gone (killed runs, crashed builds)"


def configure(parser: argparse.ArgumentParser) -> None:
    """``gc`` takes no options."""


def execute(args: argparse.Namespace) -> int:
    """Remove orphans and list them."""
    from iris_envs.docker_adapter import DockerEngine
    from iris_envs.orphans import collect_orphans

    removed = collect_orphans(DockerEngine())
    for container in removed:
        print(f"removed {container.name} (owner process gone)")
    if not removed:
        print("no orphaned containers")
    return 0
