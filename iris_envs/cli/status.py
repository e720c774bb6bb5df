"""``iris-envs status``: the containers iris-envs manages on this engine, and their ports."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.engine.types import ContainerInfo

HELP = (
    "list this project's containers that iris-envs manages (up, run, build), their state and ports"
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``status``."""
    from iris_envs.cli._common import add_all_projects_option, add_config_option

    add_config_option(parser)
    add_all_projects_option(
        parser, "list every project's containers on this engine, with a project column"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def execute(args: argparse.Namespace) -> int:
    """Print one row per managed container."""
    import json

    from iris_envs import naming
    from iris_envs.cli._common import project_root_from_args
    from iris_envs.engine.adapter import DockerEngine

    engine = DockerEngine()
    root = str(project_root_from_args(args))
    everything = engine.containers_by_label({naming.LABEL_MANAGED: "true"})
    containers = [
        c for c in everything if args.all_projects or c.labels.get(naming.LABEL_PROJECT) == root
    ]
    others = len(everything) - len(containers)
    platforms: dict[str, str] = {}  # image id -> os/arch, each image inspected once
    rows = [
        {
            "project": c.labels.get(naming.LABEL_PROJECT) or None,
            "env": c.labels.get(naming.LABEL_ENV, ""),
            "role": _role(c),
            "name": c.name,
            "state": c.status + (f" ({c.health})" if c.health else ""),
            "superserver": c.ports.get(1972),
            "web": c.ports.get(52773),
            "image": c.image,
            "platform": _platform(engine, c.image_id, platforms),
        }
        for c in containers
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    more = (
        f"; {others} of other projects: `iris-envs status --all-projects`"
        if others and not args.all_projects
        else ""
    )
    if not rows:
        scope = "" if args.all_projects else f" of this project ({root})"
        print(f"no containers managed by iris-envs{scope}{more}")
        return 0
    from rich.console import Console
    from rich.table import Table

    columns = ["env", "role", "container", "state", "127.0.0.1 ports", "image", "platform"]
    table = Table(*(["project", *columns] if args.all_projects else columns), box=None)
    for row in rows:
        ports = f"{row['superserver'] or '-'} / {row['web'] or '-'}"
        cells = [
            str(row["env"]),
            str(row["role"]),
            str(row["name"]),
            str(row["state"]),
            ports,
            str(row["image"]),
            str(row["platform"]),
        ]
        table.add_row(*([str(row["project"] or "-"), *cells] if args.all_projects else cells))
    import sys

    # Piped or redirected output is not cut at rich's default 80 columns.
    width = None if sys.stdout.isatty() else 1000
    Console(highlight=False, width=width).print(table)
    if more:
        print(f"{len(rows)} container(s) of this project{more}")
    return 0


def _platform(engine: DockerEngine, image_id: str, seen: dict[str, str]) -> str:
    """``linux/amd64``: the platform of the container's image ('' when it is gone)."""
    if image_id not in seen:
        info = engine.inspect_image(image_id) if image_id else None
        seen[image_id] = info.platform if info is not None else ""
    return seen[image_id]


def _role(container: ContainerInfo) -> str:
    """The role label, except that a claimed spare is shown as the run it now serves."""
    from iris_envs import naming
    from iris_envs.cache.orphans import KEPT_PREFIX
    from iris_envs.run.spares import claimant_pid

    role = container.labels.get(naming.LABEL_ROLE, "")
    if container.name.startswith(KEPT_PREFIX):
        return f"{role} (kept)"
    if claimant_pid(container) is not None:
        return "run (claimed spare)"
    return role
