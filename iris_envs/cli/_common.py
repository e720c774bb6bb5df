"""Options and loading steps shared by the configuration commands (list, config, key, explain)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from iris_envs.errors import ConfigError

if TYPE_CHECKING:
    from iris_envs.config.spec import EnvSpec, Project
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.share.registry import RemoteCache


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``-c/--config FILE``: use this iris-envs.toml or pyproject.toml instead of discovery."""
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        type=Path,
        default=None,
        help="configuration file (default: the nearest iris-envs.toml, or pyproject.toml with "
        "[tool.iris-envs], walking up from the current directory)",
    )


def add_offline_option(parser: argparse.ArgumentParser) -> None:
    """``--offline``: never contact the Docker engine; keys fall back to image tags."""
    parser.add_argument(
        "--offline",
        action="store_true",
        help="do not contact the Docker engine: key base images by tag, skip cache lookups",
    )


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    """``-e/--env NAME[,NAME]`` and ``-m/--tag TAG`` (both repeatable) plus ``--offline``."""
    parser.add_argument(
        "-e",
        "--env",
        metavar="NAME[,NAME]",
        action="append",
        default=None,
        help="environment(s) to use; repeatable, comma-separated (default: the project's "
        "'default' list)",
    )
    parser.add_argument(
        "-m",
        "--tag",
        metavar="TAG",
        action="append",
        default=None,
        help="add the environments carrying this tag; repeatable",
    )
    add_offline_option(parser)


def add_env_positional(parser: argparse.ArgumentParser) -> None:
    """``ENV ...`` as positional arguments, the same as ``-e ENV`` (``up app``, ``down app``)."""
    parser.add_argument(
        "positional_envs",
        nargs="*",
        metavar="ENV",
        help="environment(s), the same as -e ENV",
    )


def merge_env_positional(args: argparse.Namespace) -> None:
    """Fold positional ENV arguments into ``args.env``."""
    extra = list(getattr(args, "positional_envs", None) or ())
    if extra:
        args.env = [*(args.env or []), *extra]


def load_project_from_args(args: argparse.Namespace) -> Project:
    """Load the project named by ``-c`` (or discovered from the current directory)."""
    from iris_envs.config.load import load_project

    return load_project(getattr(args, "config", None))


def load_selected(args: argparse.Namespace) -> tuple[Project, list[EnvSpec]]:
    """Load the project and apply ``-e``/``-m`` (or its default list)."""
    from iris_envs.config.selection import select_envs

    project = load_project_from_args(args)
    return project, select_envs(project, getattr(args, "env", None), getattr(args, "tag", None))


def load_one(args: argparse.Namespace) -> tuple[Project, EnvSpec]:
    """Load the project and the single environment named by the positional ``ENV``."""
    from iris_envs.config.selection import select_one

    project = load_project_from_args(args)
    return project, select_one(project, getattr(args, "name", None))


def engine_or_none(args: argparse.Namespace) -> DockerEngine | None:
    """A Docker engine, or None with ``--offline`` (constructing it does no I/O)."""
    if getattr(args, "offline", False):
        return None
    from iris_envs.engine.adapter import DockerEngine

    return DockerEngine()


def require_engine(args: argparse.Namespace, command: str) -> DockerEngine:
    """The engine for commands that cannot work offline."""
    engine = engine_or_none(args)
    if engine is None:
        raise ConfigError(f"'{command}' reads snapshots from the Docker engine: drop --offline")
    return engine


def add_registry_options(parser: argparse.ArgumentParser) -> None:
    """``--registry REG`` and ``--push``: an OCI registry as a remote snapshot cache."""
    parser.add_argument(
        "--registry",
        metavar="REG",
        default=None,
        help="pull the snapshot of the EXACT key from REG (host[:port][/path]) before building "
        "(default: $IRIS_ENVS_REGISTRY, then [cache] registry; credentials: `docker login`)",
    )
    parser.add_argument(
        "--push", action="store_true", help="push snapshots built here to the registry"
    )


def remote_cache(args: argparse.Namespace, project: Project) -> RemoteCache | None:
    """The registry to use from ``--registry``, ``$IRIS_ENVS_REGISTRY`` or the configuration."""
    from iris_envs.share.registry import RemoteCache, resolve_registry

    registry = resolve_registry(args.registry, project.cache.registry)
    if registry is None:
        if args.push:
            raise ConfigError(
                "--push needs a registry",
                hint="give --registry REG, set IRIS_ENVS_REGISTRY, or [cache] registry",
            )
        return None
    return RemoteCache(registry, push=args.push)


def prune_past_max_size(project: Project, engine: DockerEngine) -> None:
    """``[cache] max-size``: after run/build, prune least recently used snapshots past it."""
    if project.cache.max_size is None:
        return
    from iris_envs.errors import IrisEnvsError
    from iris_envs.progress import Reporter

    try:
        prune_snapshots(engine, max_size=project.cache.max_size)
    except IrisEnvsError as error:  # housekeeping must never change the command's own result
        Reporter().line(f"warning: automatic prune failed: {error}")


def prune_snapshots(
    engine: DockerEngine,
    *,
    older_than_days: float | None = None,
    keep: int | None = None,
    max_size: int | None = None,
    dry_run: bool = False,
) -> int:
    """Prune and print one line per snapshot and a total; return the bytes freed."""
    from iris_envs.cache.prune import choose, list_snapshots, remove
    from iris_envs.progress import human_bytes

    snapshots = list_snapshots(engine)
    chosen = choose(snapshots, older_than_days=older_than_days, keep=keep, max_size=max_size)
    freed = 0
    for snap in chosen:
        if dry_run:
            print(f"would remove {snap.tag} ({human_bytes(snap.size)})")
            freed += snap.size
        elif remove(engine, snap):
            print(f"removed {snap.tag} ({human_bytes(snap.size)})")
            freed += snap.size
        else:
            print(f"kept {snap.tag}: a container uses it")
    for snap in snapshots:
        if snap.containers and snap not in chosen:
            print(f"kept {snap.tag}: in use by {len(snap.containers)} container(s)")
    verb = "would free" if dry_run else "freed"
    print(f"{verb} {human_bytes(freed)} ({len(chosen)} snapshot(s))")
    return freed
