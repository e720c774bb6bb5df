"""``iris-envs cache export|import|push|pull``: share snapshots between machines and projects.

Archives and the registry carry project-independent names (``iris-envs/<env>:<key12>``,
``REG/iris-envs/<env>:<key>``); what is imported or pulled is named as the current project's.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from iris_envs.cli._common import current_keys, project_root_from_args

if TYPE_CHECKING:
    from iris_envs.config.spec import EnvSpec
    from iris_envs.engine.adapter import DockerEngine


def execute_share(engine: DockerEngine, args: argparse.Namespace) -> int:
    """Run ``cache export``, ``import``, ``push`` or ``pull``."""
    handler = {
        "export": _export,
        "import": _import,
        "push": _push_pull,
        "pull": _push_pull,
    }[args.cache_command]
    return handler(engine, args)


def _current_ref(engine: DockerEngine, args: argparse.Namespace) -> tuple[EnvSpec, str, str]:
    from iris_envs import naming
    from iris_envs.cli._common import load_one

    _project, spec = load_one(args)
    key = current_keys(engine, [spec])[spec.name]
    return spec, key, naming.snapshot_ref(spec.project_root, spec.name, key)


def _export(engine: DockerEngine, args: argparse.Namespace) -> int:
    from iris_envs.build.snapshot import find_cached
    from iris_envs.errors import BuildFailed, ConfigError
    from iris_envs.progress import Reporter, human_bytes
    from iris_envs.share.archive import export_snapshot, travelling_name

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
    with (
        reporter.step(f"export {ref}") as handle,
        travelling_name(engine, ref, spec.name, key) as name,
    ):
        size = export_snapshot(
            engine,
            name,
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
            project=project_root_from_args(args),
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
            engine, reg, spec.name, keys[spec.name], Reporter(spec.name), project=spec.project_root
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
            print(f"{spec.name}: pulled {naming.snapshot_ref(spec.project_root, spec.name, key)}")
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
