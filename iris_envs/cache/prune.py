"""The snapshots in the engine as a cache: list them, choose what to prune, remove them safely."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from iris_envs import naming
from iris_envs.cache import index as snapshot_index
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import DockerOperationFailed

DAY = 86400.0


@dataclass(frozen=True)
class CachedSnapshot:
    """One project's snapshot as ``cache ls`` shows it: an image and that project's tags of it.

    An image two projects share (the same environment name and key, see lookup.py) is one
    snapshot of each; removing one removes only its ``tags``, and the engine deletes the image
    with the last tag (``other_tags`` says whether any other name keeps it).
    """

    env: str
    key: str
    project: str | None  # project id (naming.project_id); None: the project-independent name
    tags: tuple[str, ...]  # the project's names of the image (key-named and maybe :latest)
    other_tags: tuple[str, ...]  # every other name of the image: other projects', or any
    image_id: str
    size: int  # bytes of its own layers (on top of the base image): what removing it frees
    created: float  # epoch seconds
    last_used: float  # epoch seconds (the index; the creation time when never used)
    containers: tuple[str, ...]  # ids of containers (any state) created from it
    origin_project: str = ""  # root of the project whose build made the image ("" if unknown)

    @property
    def tag(self) -> str:
        """The key-named tag, ``iris-envs/<project id>/<env>:<key12>``."""
        wanted = [t for t in self.tags if t.endswith(":" + naming.snapshot_tag(self.key))]
        return (wanted or list(self.tags))[0]

    @property
    def shared(self) -> bool:
        """Whether another name keeps the image after this snapshot's tags are removed."""
        return bool(self.other_tags)


def _epoch(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")[:26]).timestamp()
    except ValueError:
        return 0.0


def list_snapshots(
    engine: DockerEngine, project_root: str | PurePath | None = None
) -> list[CachedSnapshot]:
    """The snapshots of the project at ``project_root`` (None: of every project, and those under
    the project-independent name), newest first. Untagged leftovers are gc's job."""
    wanted = None if project_root is None else naming.project_id(project_root)
    index = snapshot_index.load()
    found = []
    base_sizes: dict[str, int] = {}
    for info in engine.images_by_label({naming.LABEL_ROLE: "snapshot"}):
        env, key = info.labels.get(naming.LABEL_ENV), info.labels.get(naming.LABEL_KEY)
        if not env or not key:
            continue
        by_project: dict[str | None, list[str]] = {}
        for tag in info.tags:
            name = naming.parse_snapshot_ref(tag)
            if name is not None:
                by_project.setdefault(name.project, []).append(tag)
        owners = [p for p in by_project if project_root is None or p == wanted]
        if not owners:
            continue
        base = info.labels.get(naming.LABEL_BASE_IMAGE, "")
        if base and base not in base_sizes:
            base_info = engine.inspect_image(base)
            base_sizes[base] = base_info.size if base_info else 0
        # The engine's Created (sub-second) first: the label has whole seconds, and snapshots
        # built within one second must still be told apart for --keep N.
        created = _epoch(info.created) or _epoch(info.labels.get(naming.LABEL_CREATED, ""))
        containers = tuple(engine.containers_of_image(info.id))
        for project in owners:
            tags = tuple(sorted(by_project[project]))
            used = [
                float(entry["last_used"])
                for tag in tags
                if isinstance(entry := index.get(tag), dict)
                and isinstance(entry.get("last_used"), (int, float))
            ]
            found.append(
                CachedSnapshot(
                    env=env,
                    key=key,
                    project=project,
                    tags=tags,
                    other_tags=tuple(sorted(t for t in info.tags if t not in tags)),
                    image_id=info.id,
                    size=max(info.size - base_sizes.get(base, 0), 0),
                    created=created,
                    last_used=max([created, *used]),
                    containers=containers,
                    origin_project=info.labels.get(naming.LABEL_ORIGIN_PROJECT, ""),
                )
            )
    return sorted(found, key=lambda s: (s.created, s.key, s.project or ""), reverse=True)


def choose(
    snapshots: Sequence[CachedSnapshot],
    *,
    older_than_days: float | None = None,
    keep: int | None = None,
    max_size: int | None = None,
    now: float | None = None,
) -> list[CachedSnapshot]:
    """The snapshots to remove: each violates at least one limit; in-use ones are never chosen.

    ``keep`` keeps the newest N (by build time) per project and environment;
    ``older_than_days`` removes those unused for longer; ``max_size`` removes least recently
    used ones until the rest fit (a shared image counts fully for each project naming it).
    """
    now = time.time() if now is None else now
    free = [s for s in snapshots if not s.containers]
    chosen: dict[tuple[str | None, str], CachedSnapshot] = {}

    def ident(snap: CachedSnapshot) -> tuple[str | None, str]:
        return snap.project, snap.image_id

    if keep is not None:
        # Per project AND environment: another project's environment of the same name is not
        # a newer version of this one.
        by_env: dict[tuple[str | None, str], list[CachedSnapshot]] = {}
        for snap in sorted(snapshots, key=lambda s: (s.created, s.key), reverse=True):
            by_env.setdefault((snap.project, snap.env), []).append(snap)
        for group in by_env.values():
            chosen.update((ident(s), s) for s in group[keep:] if not s.containers)
    if older_than_days is not None:
        limit = now - older_than_days * DAY
        chosen.update((ident(s), s) for s in free if s.last_used < limit)
    if max_size is not None:
        total = sum(s.size for s in snapshots if ident(s) not in chosen)
        for snap in sorted(free, key=lambda s: (s.last_used, s.created)):
            if total <= max_size:
                break
            if ident(snap) not in chosen:
                chosen[ident(snap)] = snap
                total -= snap.size
    return [s for s in snapshots if ident(s) in chosen]


def remove(engine: DockerEngine, snapshot: CachedSnapshot) -> bool:
    """Remove the snapshot's tags, never another project's (the last tag removes the image);
    False if a container started from it in the meantime (the engine refuses: the image stays).
    """
    if engine.containers_of_image(snapshot.image_id):
        return False
    for tag in snapshot.tags:
        now = engine.inspect_image(tag)
        if now is None or now.id != snapshot.image_id:
            continue  # moved to a newer build meanwhile (``:latest``): that one is not pruned
        try:
            engine.remove_image(tag, force=False)
        except DockerOperationFailed as error:
            if "conflict" in str(error).lower() or "being used" in str(error).lower():
                return False
            raise
    return True


def matching(snapshots: Iterable[CachedSnapshot], what: str) -> list[CachedSnapshot]:
    """Snapshots of environment ``what``, or whose key starts with ``what`` (12+ hex digits)."""
    items = list(snapshots)
    by_env = [s for s in items if s.env == what]
    if by_env:
        return by_env
    if re.fullmatch(r"[0-9a-f]{12,64}", what):
        return [s for s in items if s.key.startswith(what)]
    return []
