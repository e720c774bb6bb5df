"""``iris-envs cache ls|prune|rm|export|import|push|pull``: manage and share snapshot images."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from iris_envs.cli._common import (
    add_all_projects_option,
    add_config_option,
    current_keys,
    project_root_from_args,
    prune_snapshots,
)

if TYPE_CHECKING:
    from iris_envs.cache.prune import CachedSnapshot
    from iris_envs.engine.adapter import DockerEngine

HELP = "list, prune, remove, export/import and push/pull snapshot images"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the ``cache`` subcommands."""
    sub = parser.add_subparsers(dest="cache_command", metavar="SUBCOMMAND", required=True)
    text = "list this project's snapshot images (env, key, size, built, last used)"
    ls = sub.add_parser("ls", help=text, description=text)
    add_config_option(ls)
    add_all_projects_option(
        ls, "list every project's snapshots on this engine, with a project column"
    )
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    prune = sub.add_parser(
        "prune",
        help="remove this project's snapshots past the given limits (never one a container uses)",
        description="Remove every snapshot of this project that breaks at least one limit. A "
        "snapshot any container (running or stopped) was created from is never removed. An "
        "image another project shares keeps existing: only this project's tags are removed.",
    )
    add_config_option(prune)
    add_all_projects_option(
        prune,
        "prune every project's snapshots on this engine (--keep still counts per project and "
        "environment)",
    )
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="unused for DAYS days")
    prune.add_argument(
        "--keep", type=int, metavar="N", help="keep the N newest per environment (and project)"
    )
    prune.add_argument(
        "--max-size", metavar="SIZE", help="remove least recently used until under SIZE (20GB)"
    )
    prune.add_argument("--dry-run", action="store_true", help="print what would go; remove none")

    text = "remove this project's snapshots of an environment, or of one key"
    rm = sub.add_parser("rm", help=text, description=text)
    add_config_option(rm)
    add_all_projects_option(
        rm, "remove the matching snapshots of every project on this engine (their tags)"
    )
    rm.add_argument("what", metavar="ENV|KEY", help="environment name, or 12+ hex digits of a key")

    text = "write an environment's snapshot to a gzip'd archive (docker save format)"
    export = sub.add_parser("export", help=text, description=text)
    add_config_option(export)
    export.add_argument("name", metavar="ENV", help="environment (its CURRENT key's snapshot)")
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="the archive to write (a new or regular file, never through a symbolic link); "
        "- writes it to stdout",
    )

    text = "load an archive written by `cache export` as a snapshot of this project"
    load = sub.add_parser("import", help=text, description=text)
    add_config_option(load)  # the project the snapshot is imported into
    load.add_argument("file", type=Path, metavar="FILE", help="the archive to load")

    for name, verb in (("push", "publish"), ("pull", "fetch")):
        text = f"{verb} the snapshot of each selected environment's current key"
        remote = sub.add_parser(name, help=text, description=text)
        add_config_option(remote)
        remote.add_argument(
            "name", metavar="ENV", nargs="*", help="environments (default: the default list)"
        )
        remote.add_argument(
            "--registry",
            metavar="REG",
            help="host[:port][/path] (default: $IRIS_ENVS_REGISTRY, then [cache] registry); "
            "log in with `docker login` first",
        )


def execute(args: argparse.Namespace) -> int:
    """Dispatch to the subcommand."""
    from iris_envs.engine.adapter import DockerEngine

    engine = DockerEngine()
    if args.cache_command in ("export", "import", "push", "pull"):
        from iris_envs.cli.cache_share import execute_share

        return execute_share(engine, args)
    handler = {"ls": _ls, "prune": _prune, "rm": _rm}[args.cache_command]
    return handler(engine, args)


def _project_keys(engine: DockerEngine, args: argparse.Namespace) -> dict[str, str]:
    """Current keys of the project's environments; empty outside a project (no config)."""
    from iris_envs.cli._common import load_project_from_args
    from iris_envs.errors import ConfigError

    try:
        project = load_project_from_args(args)
    except ConfigError:
        return {}
    if project.config_file is None and args.config is None:
        return {}  # zero-config: the folder is not necessarily a project
    return current_keys(engine, list(project.envs.values()))


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch)) if epoch else "-"


def _ls(engine: DockerEngine, args: argparse.Namespace) -> int:
    import json

    from iris_envs import naming
    from iris_envs.cache.prune import list_snapshots
    from iris_envs.progress import human_bytes

    root = project_root_from_args(args)
    mine = naming.project_id(root)
    everything = list_snapshots(engine)
    snapshots = [s for s in everything if args.all_projects or s.project == mine]
    others = len({(s.project, s.image_id) for s in everything if s.project != mine})
    keys = _project_keys(engine, args)

    def state(snap: CachedSnapshot) -> str:
        if snap.project != mine or snap.env not in keys:
            return "-"
        return "current" if keys[snap.env] == snap.key else "stale"

    def project_root(snap: CachedSnapshot) -> str | None:
        if snap.project == mine:
            return str(root)
        origin = snap.origin_project
        return origin if origin and naming.project_id(origin) == snap.project else None

    rows = [
        {
            "project": s.project,
            "project_root": project_root(s),
            "env": s.env,
            "key": s.key,
            "tag": s.tag,
            "size": s.size,
            "created": s.created,
            "last_used": s.last_used,
            "state": state(s),
            "containers": len(s.containers),
            "shared_with": list(s.other_tags),
        }
        for s in snapshots
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    more = (
        f"; {others} of other projects: `iris-envs cache ls --all-projects`"
        if others and not args.all_projects
        else ""
    )
    if not rows:
        scope = "" if args.all_projects else f" of this project ({root})"
        print(f"no snapshot images{scope}{more}")
        return 0
    from rich.console import Console
    from rich.table import Table

    columns = ["env", "key", "size", "built", "last used", "state", "tag"]
    table = Table(*(["project", *columns] if args.all_projects else columns), box=None)
    for s, row in zip(snapshots, rows, strict=True):
        notes = [f"in use: {len(s.containers)}"] if s.containers else []
        notes += ["shared"] if s.shared else []
        cells = [
            s.env,
            s.key[:12],
            human_bytes(s.size),
            _when(s.created),
            _when(s.last_used),
            str(row["state"]) + (f" ({', '.join(notes)})" if notes else ""),
            s.tag,
        ]
        if args.all_projects:
            cells.insert(0, str(row["project_root"] or s.project or "(no project)"))
        table.add_row(*cells)
    # Piped or redirected output is not cut (project paths are long).
    Console(highlight=False, width=None if sys.stdout.isatty() else 1000).print(table)
    total = sum(s.size for s in {s.image_id: s for s in snapshots}.values())
    print(f"{len(snapshots)} snapshot(s), {human_bytes(total)} of their own layers{more}")
    return 0


def _prune(engine: DockerEngine, args: argparse.Namespace) -> int:
    from iris_envs.config.values import parse_size
    from iris_envs.errors import ConfigError

    if args.older_than is None and args.keep is None and args.max_size is None:
        raise ConfigError(
            "cache prune needs a limit", hint="give --older-than DAYS, --keep N or --max-size SIZE"
        )
    if args.keep is not None and args.keep < 0:
        raise ConfigError(f"--keep must be 0 or more, got {args.keep}")
    if args.older_than is not None and args.older_than < 0:
        raise ConfigError(f"--older-than must be 0 or more days, got {args.older_than}")
    max_size = None if args.max_size is None else parse_size(args.max_size, "--max-size")
    prune_snapshots(
        engine,
        older_than_days=args.older_than,
        keep=args.keep,
        max_size=max_size,
        dry_run=args.dry_run,
        project_root=None if args.all_projects else project_root_from_args(args),
    )
    return 0


def _rm(engine: DockerEngine, args: argparse.Namespace) -> int:
    from iris_envs.cache.prune import list_snapshots, matching, remove
    from iris_envs.cli._common import removal_line
    from iris_envs.errors import DockerOperationFailed, UnknownEnvironment

    root = None if args.all_projects else project_root_from_args(args)
    snapshots = list_snapshots(engine, root)
    chosen = matching(snapshots, args.what)
    if not chosen:
        envs = sorted({s.env for s in snapshots})
        scope = "" if root is None else f" in this project ({root})"
        others = "" if root is None else "; --all-projects looks in every project"
        raise UnknownEnvironment(
            f"no snapshot of environment or key {args.what!r}{scope}; "
            f"environments with snapshots: {', '.join(envs) or '(none)'}",
            hint=f"`iris-envs cache ls` lists them; a key needs at least 12 hex digits{others}",
        )
    busy = []
    for snap in chosen:
        if remove(engine, snap):
            print(removal_line(snap, gone=engine.inspect_image(snap.image_id) is None))
        else:
            busy.append(snap.tag)
    if busy:
        raise DockerOperationFailed(
            f"kept {', '.join(busy)}: containers use them",
            hint="stop them first (`iris-envs down`, `iris-envs status` lists them)",
        )
    return 0
