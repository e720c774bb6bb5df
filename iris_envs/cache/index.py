"""The cache folder's index of snapshots: which image serves which key, and when it was used."""

from __future__ import annotations

import time
from typing import Any

from filelock import FileLock

from iris_envs.cache.folder import atomic_write_json, cache_location, cache_root, read_json

INDEX_FILE = "snapshots.json"


def _update(change: Any) -> None:
    root = cache_root()
    with FileLock(str(root / f"{INDEX_FILE}.lock"), timeout=60):
        data = read_json(root / INDEX_FILE)
        if not isinstance(data, dict):
            data = {}  # missing or corrupt: start again; the engine's labels stay authoritative
        change(data)
        atomic_write_json(root / INDEX_FILE, data)


def record_built(ref: str, *, env: str, key: str, image_id: str, size: int) -> None:
    """Remember a newly built snapshot."""
    now = time.time()

    def change(data: dict[str, Any]) -> None:
        data[ref] = {
            "env": env,
            "key": key,
            "image_id": image_id,
            "size": size,
            "built": now,
            "last_used": now,
        }

    _update(change)


def record_used(ref: str) -> None:
    """Note that a snapshot served a run (for pruning least recently used snapshots later)."""

    def change(data: dict[str, Any]) -> None:
        if isinstance(data.get(ref), dict):
            data[ref]["last_used"] = time.time()

    _update(change)


def load() -> dict[str, Any]:
    """The whole index (empty when missing or corrupt). Reading creates nothing: `cache ls`
    works with a read-only cache folder (issue 22, item 16)."""
    data = read_json(cache_location() / INDEX_FILE)
    return data if isinstance(data, dict) else {}
