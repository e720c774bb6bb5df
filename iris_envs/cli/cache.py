"""``iris-envs cache ls|prune|rm|export|import|push|pull``: manage and share snapshot images."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from iris_envs.cli._common import add_config_option, prune_snapshots

if TYPE_CHECKING:
    from iris_envs.cache.prune import CachedSnapshot
    from iris_envs.config.spec import EnvSpec
    from iris_envs.engine.adapter import DockerEngine

HELP = "list, prune, remove, export/import and push/pull snapshot images"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the ``cache`` subcommands."""
    sub = parser.add_subparsers(dest="cache_command", metavar="SUBCOMMAND", required=True)
    text = "list snapshot images (env, key, size, built, last used)"
    ls = sub.add_parser("ls", help=text, description=text)
    add_config_option(ls)
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    prune = sub.add_parser(
        "prune",
        help="remove snapshots past the given limits (never one a container uses)",
        description="Remove every snapshot that breaks at least one limit. A snapshot any "
        "container (running or stopped) was created from is never removed.",
    )
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="unused for DAYS days")
    prune.add_argument("--keep", type=int, metavar="N", help="keep the N newest per environment")
    prune.add_argument(
        "--max-size", metavar="SIZE", help="remove least recently used until under SIZE (20GB)"
    )
    prune.add_argument("--dry-run", action="store_true", help="print what would go; remove none")

    text = "remove the snapshots of an environment, or of one key"
    rm = sub.add_parser("rm", help=text, description=text)
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

    text = "load an archive written by `cache export` (its tag, labels and index entry)"
    load = sub.add_parser("import", help=text, description=text)
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
    handler = {
        "ls": _ls,
        "prune": _prune,
        "rm": _rm,
        "export": _export,
        "import": _import,
        "push": _push_pull,
        "pull": _push_pull,
    }[args.cache_command]
    return handler(engine, args)


def current_keys(engine: DockerEngine, envs: list[EnvSpec]) -> dict[str, str]:
    """env name -> the key its snapshot has now (base image by ID when the engine has it)."""
    from iris_envs.errors import ConfigError
    from iris_envs.key.cache_key import compute_key, effective_platform, resolve_base_image

    keys = {}
    for spec in (s for s in envs if not s.problem):
        base = resolve_base_image(engine, spec.image)
        try:
            keys[spec.name] = compute_key(spec, base, effective_platform(spec, engine)).key
        except ConfigError:
            continue  # a broken fixture: this environment has no current key, others do
    return keys


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

    from iris_envs.cache.prune import list_snapshots
    from iris_envs.progress import human_bytes

    snapshots = list_snapshots(engine)
    keys = _project_keys(engine, args)

    def state(snap: CachedSnapshot) -> str:
        if snap.env not in keys:
            return "-"
        return "current" if keys[snap.env] == snap.key else "stale"

    rows = [
        {
            "env": s.env,
            "key": s.key,
            "tag": s.tag,
            "size": s.size,
            "created": s.created,
            "last_used": s.last_used,
            "state": state(s),
            "containers": len(s.containers),
        }
        for s in snapshots
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no snapshot images")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("env", "key", "size", "built", "last used", "state", "tag", box=None)
    for s, row in zip(snapshots, rows, strict=True):
        used = f" (in use: {len(s.containers)})" if s.containers else ""
        table.add_row(
            s.env,
            s.key[:12],
            human_bytes(s.size),
            _when(s.created),
            _when(s.last_used),
            str(row["state"]) + used,
            s.tag,
        )
    Console(highlight=False, width=200 if not sys.stdout.isatty() else None).print(table)
    total = sum(s.size for s in snapshots)
    print(f"{len(snapshots)} snapshot(s), {human_bytes(total)} of their own layers")
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
    )
    return 0


def _rm(engine: DockerEngine, args: argparse.Namespace) -> int:
    from iris_envs.cache.prune import list_snapshots, matching, remove
    from iris_envs.errors import DockerOperationFailed, UnknownEnvironment
    from iris_envs.progress import human_bytes

    snapshots = list_snapshots(engine)
    chosen = matching(snapshots, args.what)
    if not chosen:
        envs = sorted({s.env for s in snapshots})
        raise UnknownEnvironment(
            f"no snapshot of environment or key {args.what!r}; "
            f"environments with snapshots: {', '.join(envs) or '(none)'}",
            hint="`iris-envs cache ls` lists them; a key needs at least 12 hex digits",
        )
    busy = []
    for snap in chosen:
        if remove(engine, snap):
            print(f"removed {snap.tag} ({human_bytes(snap.size)})")
        else:
            busy.append(snap.tag)
    if busy:
        raise DockerOperationFailed(
            f"kept {', '.join(busy)}: containers use them",
            hint="stop them first (`iris-envs down`, `iris-envs status` lists them)",
        )
    return 0


def _current_ref(engine: DockerEngine, args: argparse.Namespace) -> tuple[EnvSpec, str, str]:
    from iris_envs import naming
    from iris_envs.cli._common import load_one

    _project, spec = load_one(args)
    key = current_keys(engine, [spec])[spec.name]
    return spec, key, naming.snapshot_ref(spec.name, key)


def _export(engine: DockerEngine, args: argparse.Namespace) -> int:
    from iris_envs.build.snapshot import find_cached
    from iris_envs.errors import BuildFailed, ConfigError
    from iris_envs.progress import Reporter, human_bytes
    from iris_envs.share.archive import export_snapshot

    spec, key, ref = _current_ref(engine, args)
    if find_cached(engine, ref, key) is None:
        raise BuildFailed(
            f"environment {spec.name} has no snapshot for its current key ({ref})",
            hint=f"build it first: iris-envs build -e {spec.name}",
        )
    to_stdout = str(args.output) == "-"
    if to_stdout and sys.stdout.isatty():
        raise ConfigError(
            "-o -: stdout is a terminal", hint="redirect it (`-o - > FILE`, `| ssh ...`)"
        )
    reporter = Reporter(spec.name)
    with reporter.step(f"export {ref}") as handle:
        size = export_snapshot(
            engine,
            ref,
            None if to_stdout else args.output,
            lambda done: handle.update(f"{human_bytes(done)} read"),
        )
        handle.detail = human_bytes(size)
    where = "stdout" if to_stdout else args.output
    print(
        f"{spec.name}: {ref} -> {where} ({human_bytes(size)})",
        file=sys.stderr if to_stdout else sys.stdout,
    )
    return 0


def _import(engine: DockerEngine, args: argparse.Namespace) -> int:
    from iris_envs.progress import Reporter, human_bytes
    from iris_envs.share.archive import import_snapshot

    reporter = Reporter()
    with reporter.step(f"import {args.file}") as handle:
        snap, loaded = import_snapshot(
            engine,
            args.file,
            on_check=lambda done: handle.update(f"checked {human_bytes(done)}"),
            on_load=lambda done: handle.update(f"loaded {human_bytes(done)}"),
        )
    if loaded:
        print(f"{snap.env}: {snap.ref} imported (key {snap.key})")
    else:
        print(f"{snap.env}: {snap.ref} is here already (key {snap.key}): kept it, loaded nothing")
    return 0


def _push_pull(engine: DockerEngine, args: argparse.Namespace) -> int:
    from iris_envs.cli._common import load_project_from_args
    from iris_envs.config.selection import select_envs
    from iris_envs.errors import ConfigError
    from iris_envs.share import registry

    project = load_project_from_args(args)
    reg = registry.resolve_registry(args.registry, project.cache.registry)
    if reg is None:
        raise ConfigError(
            f"cache {args.cache_command} needs a registry",
            hint=f"give --registry REG, set {registry.REGISTRY_ENV}, or [cache] registry",
        )
    envs = select_envs(project, args.name or None, None)
    if args.cache_command == "pull":
        return _pull(engine, envs, reg)
    from iris_envs.progress import Reporter

    keys = current_keys(engine, envs)
    for spec in envs:
        pushed = registry.push_snapshot(
            engine, reg, spec.name, keys[spec.name], Reporter(spec.name)
        )
        print(f"{spec.name}: pushed {pushed}")
    return 0


def _pull(engine: DockerEngine, envs: list[EnvSpec], reg: str) -> int:
    """Pull, check and verify each environment's snapshot; refused ones exit 5, misses 1."""
    from iris_envs import naming
    from iris_envs.build.snapshot import pull_snapshot
    from iris_envs.errors import DockerOperationFailed, SnapshotRefused
    from iris_envs.instance.containers import Owner
    from iris_envs.progress import Reporter
    from iris_envs.share import registry

    owner = Owner()
    missing: list[str] = []
    refused: list[SnapshotRefused] = []
    for spec in envs:
        try:
            key, image = pull_snapshot(engine, spec, reg, owner=owner, reporter=Reporter(spec.name))
        except SnapshotRefused as refusal:
            refused.append(refusal)
            continue
        if image is not None:
            print(f"{spec.name}: pulled {naming.snapshot_ref(spec.name, key)}")
        else:
            missing.append(registry.remote_ref(reg, spec.name, key))
    if refused:
        raise SnapshotRefused(
            "; ".join(refusal.message for refusal in refused)
            + (f"; not in the registry: {', '.join(missing)}" if missing else ""),
            hint=refused[0].hint,
        )
    if missing:
        raise DockerOperationFailed(
            f"not in the registry (exact key): {', '.join(missing)}",
            hint="build and push it: iris-envs build --registry REG --push",
        )
    return 0
