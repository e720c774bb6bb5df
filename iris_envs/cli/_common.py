"""Options and loading steps shared by the configuration commands (list, config, key, explain)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from iris_envs.errors import ConfigError

if TYPE_CHECKING:
    from iris_envs.cache.prune import CachedSnapshot
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


def project_root_from_args(args: argparse.Namespace) -> Path:
    """The root of the project ``-c`` names or the current directory is in (the folder of its
    configuration file; a folder without one is its own zero-configuration project), found
    without validating the configuration: scoping a listing needs only the project's name."""
    from iris_envs.config.load import find_config

    cwd = Path.cwd().absolute()
    config: Path | None = getattr(args, "config", None)
    if config is not None:
        return (cwd / config).absolute().parent
    found = find_config(cwd)
    return cwd if found is None else found.parent


def add_all_projects_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--all-projects``: widen a command from the current project to every project."""
    parser.add_argument("--all-projects", action="store_true", help=help_text)


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
        prune_snapshots(engine, max_size=project.cache.max_size, project_root=project.root)
    except IrisEnvsError as error:  # housekeeping must never change the command's own result
        Reporter().line(f"warning: automatic prune failed: {error}")


def prune_snapshots(
    engine: DockerEngine,
    *,
    older_than_days: float | None = None,
    keep: int | None = None,
    max_size: int | None = None,
    dry_run: bool = False,
    project_root: Path | None = None,
) -> int:
    """Prune the snapshots of the project at ``project_root`` (None: of every project) and print
    one line per snapshot and a total; return the bytes freed."""
    from iris_envs.cache.prune import choose, list_snapshots, remove
    from iris_envs.progress import human_bytes

    snapshots = list_snapshots(engine, project_root)
    chosen = choose(snapshots, older_than_days=older_than_days, keep=keep, max_size=max_size)
    going = {tag for snap in chosen for tag in snap.tags}
    freed, counted = 0, set()
    for snap in chosen:
        if dry_run:
            # An image that a name outside this prune keeps (another project's) stays.
            gone = all(tag in going for tag in snap.other_tags)
            print(removal_line(snap, gone=gone, dry_run=True))
        elif remove(engine, snap):
            gone = engine.inspect_image(snap.image_id) is None
            print(removal_line(snap, gone=gone))
        else:
            print(f"kept {snap.tag}: a container uses it")
            continue
        if gone and snap.image_id not in counted:  # one image named by two pruned projects
            freed += snap.size
            counted.add(snap.image_id)
    for snap in snapshots:
        if snap.containers and snap not in chosen:
            print(f"kept {snap.tag}: in use by {len(snap.containers)} container(s)")
    scope = "" if project_root is None else f" of project {project_root}"
    verb = "would free" if dry_run else "freed"
    print(f"{verb} {human_bytes(freed)} ({len(chosen)} snapshot(s){scope})")
    return freed


def removal_line(snap: CachedSnapshot, *, gone: bool, dry_run: bool = False) -> str:
    """``removed TAG (SIZE)``; for an image another name keeps, ``untagged TAG (...)``."""
    from iris_envs.progress import human_bytes

    if gone:
        return f"{'would remove' if dry_run else 'removed'} {snap.tag} ({human_bytes(snap.size)})"
    also = ", ".join(snap.other_tags)
    return f"{'would untag' if dry_run else 'untagged'} {snap.tag} (the image stays: also {also})"


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
