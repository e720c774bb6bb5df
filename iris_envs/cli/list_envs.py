"""``iris-envs list``: the environments, their images, tags and snapshot cache state."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from iris_envs.cli._common import add_config_option, add_selection_options

if TYPE_CHECKING:
    from iris_envs.config.spec import EnvSpec
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.engine.types import ImageInfo
    from iris_envs.key.cache_key import BaseImage

HELP = (
    "list environments with image, tags and description; with --state, their snapshots' cache "
    "state (built/stale/missing)"
)

UNKNOWN = "unknown"
BROKEN = "broken"  # an input file is missing or a fixture is invalid: `problem` says which


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the command's options."""
    add_config_option(parser)
    add_selection_options(parser)
    parser.add_argument(
        "--state",
        action="store_true",
        help="ask the Docker engine for each snapshot's state and key the base images by ID "
        "(without it, `list` never contacts the engine: state 'unknown', keys by image tag)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


class _States:
    """Cache states of many environments from a few engine requests: each base image is looked
    up once, the engine's platform once, and every snapshot image in one listing (asking per
    environment took 134 s for 1,000 environments; issue 22, item 15)."""

    def __init__(self, engine: DockerEngine | None) -> None:
        self.engine = engine
        self._bases: dict[str, BaseImage] = {}
        self._platform: str | None = None
        self._snapshots: dict[str, list[ImageInfo]] | None = None

    def row(self, spec: EnvSpec) -> tuple[str, str | None, str]:
        """The cache state, the key, and the platform the snapshot is (or would be) built for."""
        from iris_envs.key.cache_key import compute_key, effective_platform, resolve_base_image

        if spec.image not in self._bases:
            self._bases[spec.image] = resolve_base_image(self.engine, spec.image)
        if spec.platform:
            platform = spec.platform
        else:
            if self._platform is None:
                self._platform = effective_platform(spec, self.engine)
            platform = self._platform
        key = compute_key(spec, self._bases[spec.image], platform).key
        if self.engine is None:
            return UNKNOWN, key, platform
        return self._state(spec, key), key, platform

    def _state(self, spec: EnvSpec, key: str) -> str:
        """As key.explain.cache_state (built: the project's keyed snapshot, or another
        project's identical tagged one; stale: only other keys of the project's; missing),
        decided from one listing of every snapshot image instead of requests per environment."""
        from iris_envs import naming
        from iris_envs.key.explain import BUILT, MISSING, STALE

        assert self.engine is not None
        if self._snapshots is None:
            self._snapshots = {}
            for info in self.engine.images_by_label({naming.LABEL_ENV: None}):
                env = info.labels.get(naming.LABEL_ENV, "")
                self._snapshots.setdefault(env, []).append(info)
        images = self._snapshots.get(spec.name, [])
        ref = naming.snapshot_ref(spec.project_root, spec.name, key)
        repository = naming.project_repository(spec.project_root, spec.name) + ":"
        # The tag holds 12 hex digits; the full key label guards against a prefix collision.
        for info in images:
            keyed = info.labels.get(naming.LABEL_KEY) == key
            if keyed and (ref in info.tags or any(naming.parse_snapshot_ref(t) for t in info.tags)):
                return BUILT
        own = [i for i in images if any(t.startswith(repository) for t in i.tags)]
        return STALE if own else MISSING


def execute(args: argparse.Namespace) -> int:
    """List every environment (or the -e/-m selection); exit 0 even without an engine."""
    from iris_envs.cli._common import engine_or_none, load_project_from_args
    from iris_envs.config.selection import select_envs
    from iris_envs.errors import ConfigError, DockerUnavailable

    project = load_project_from_args(args)
    specs = (
        select_envs(project, args.env, args.tag, usable=False)
        if args.env or args.tag
        else list(project.envs.values())
    )
    # Listing never needs Docker (like `tox -l`): an engine that does not answer must not make
    # it hang or fail (issue 22, item 17), so only --state asks it.
    engine = engine_or_none(args) if args.state else None
    reason = None if engine is not None else "--offline" if args.offline else "no --state"
    rows: list[dict[str, Any]] = []
    states = _States(engine)
    for spec in specs:
        problem = spec.problem
        state, key, platform = BROKEN, None, spec.platform or "-"
        if problem is None:
            try:
                state, key, platform = states.row(spec)
            except DockerUnavailable as error:
                # Degrade to "unknown" and say why.
                states, reason = _States(None), f"Docker engine unavailable: {error.message}"
                state, key, platform = states.row(spec)
            except ConfigError as error:  # a broken fixture: this row says so, others list
                problem = error.message
                state = BROKEN
        rows.append(
            {
                "name": spec.name,
                "image": spec.image,
                "edition": spec.edition.value,
                "description": spec.description,
                "tags": list(spec.tags),
                "default": spec.name in project.default,
                "state": state,
                "key": key,
                "platform": platform,  # the environment's `platform`, else the engine's
                "problem": problem,
            }
        )
    if reason and args.state:
        print(f"iris-envs: note: cache state unknown ({reason})", file=sys.stderr)
    broken = [row for row in rows if row["problem"]]
    for row in broken:
        print(f"iris-envs: note: {row['name']} cannot be used: {row['problem']}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "STATE", "IMAGE", "PLATFORM", "TAGS", "DESCRIPTION")
    table = [header] + [
        (
            ("* " if r["default"] else "  ") + r["name"],
            r["state"],
            r["image"],
            r["platform"],
            ",".join(r["tags"]),
            r["description"] if not r["problem"] else "cannot be used: see the note above",
        )
        for r in rows
    ]
    table[0] = ("  " + header[0], *header[1:])
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    return 0
