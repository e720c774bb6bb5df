"""The snapshots in the engine as a cache: list them, choose what to prune, remove them safely."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from iris_envs import naming
from iris_envs.cache import index as snapshot_index
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import DockerOperationFailed

DAY = 86400.0


@dataclass(frozen=True)
class CachedSnapshot:
    """One tagged snapshot image as ``cache ls`` shows it."""

    env: str
    key: str
    tags: tuple[str, ...]
    image_id: str
    size: int  # bytes of its own layers (on top of the base image): what removing it frees
    created: float  # epoch seconds
    last_used: float  # epoch seconds (the index; the creation time when never used)
    containers: tuple[str, ...]  # ids of containers (any state) created from it

    @property
    def tag(self) -> str:
        """The key-named tag ``iris-envs/<env>:<key12>``."""
        wanted = naming.snapshot_ref(self.env, self.key)
        return wanted if wanted in self.tags else self.tags[0]


def _epoch(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")[:26]).timestamp()
    except ValueError:
        return 0.0


def list_snapshots(engine: DockerEngine) -> list[CachedSnapshot]:
    """Every tagged snapshot in the engine, newest first (untagged leftovers are gc's job)."""
    index = snapshot_index.load()
    found = []
    base_sizes: dict[str, int] = {}
    for info in engine.images_by_label({naming.LABEL_ROLE: "snapshot"}):
        tags = tuple(t for t in info.tags if t.startswith(naming.SNAPSHOT_REPO_PREFIX))
        env, key = info.labels.get(naming.LABEL_ENV), info.labels.get(naming.LABEL_KEY)
        if not tags or not env or not key:
            continue
        base = info.labels.get(naming.LABEL_BASE_IMAGE, "")
        if base and base not in base_sizes:
            base_info = engine.inspect_image(base)
            base_sizes[base] = base_info.size if base_info else 0
        # The engine's Created (sub-second) first: the label has whole seconds, and snapshots
        # built within one second must still be told apart for --keep N.
        created = _epoch(info.created) or _epoch(info.labels.get(naming.LABEL_CREATED, ""))
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
                tags=tuple(sorted(tags)),
                image_id=info.id,
                size=max(info.size - base_sizes.get(base, 0), 0),
                created=created,
                last_used=max([created, *used]),
                containers=tuple(engine.containers_of_image(info.id)),
            )
        )
    return sorted(found, key=lambda s: (s.created, s.key), reverse=True)


def choose(
    snapshots: Sequence[CachedSnapshot],
    *,
    older_than_days: float | None = None,
    keep: int | None = None,
    max_size: int | None = None,
    now: float | None = None,
) -> list[CachedSnapshot]:
    """The snapshots to remove: each violates at least one limit; in-use ones are never chosen.

    ``keep`` keeps the newest N (by build time) per environment; ``older_than_days`` removes
    those unused for longer; ``max_size`` removes least recently used ones until the rest fit.
    """
    now = time.time() if now is None else now
    free = [s for s in snapshots if not s.containers]
    chosen: dict[str, CachedSnapshot] = {}
    if keep is not None:
        by_env: dict[str, list[CachedSnapshot]] = {}
        for snap in sorted(snapshots, key=lambda s: (s.created, s.key), reverse=True):
            by_env.setdefault(snap.env, []).append(snap)
        for group in by_env.values():
            chosen.update((s.image_id, s) for s in group[keep:] if not s.containers)
    if older_than_days is not None:
        limit = now - older_than_days * DAY
        chosen.update((s.image_id, s) for s in free if s.last_used < limit)
    if max_size is not None:
        total = sum(s.size for s in snapshots if s.image_id not in chosen)
        for snap in sorted(free, key=lambda s: (s.last_used, s.created)):
            if total <= max_size:
                break
            if snap.image_id not in chosen:
                chosen[snap.image_id] = snap
                total -= snap.size
    return [s for s in snapshots if s.image_id in chosen]


def remove(engine: DockerEngine, snapshot: CachedSnapshot) -> bool:
    """Remove every tag of the snapshot (the last removes the image); False if a container
    started from it in the meantime (the engine refuses: the image stays)."""
    if engine.containers_of_image(snapshot.image_id):
        return False
    for tag in snapshot.tags:
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
