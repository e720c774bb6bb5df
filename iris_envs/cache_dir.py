"""The platformdirs cache folder: its layout, CACHEDIR.TAG, and atomic writes of its files."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_DIR_ENV = "IRIS_ENVS_CACHE_DIR"  # overrides the platformdirs location (tests, CI caches)

# https://bford.info/cachedir/ : backup tools skip folders carrying this exact signature.
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by iris-envs.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


def cache_root() -> Path:
    """Return the cache folder (``$IRIS_ENVS_CACHE_DIR`` or platformdirs), creating it if needed."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        root = Path(override)
    else:
        import platformdirs  # imported here: the CLI's --version must not pay for it

        root = Path(platformdirs.user_cache_dir("iris-envs", appauthor=False))
    root.mkdir(parents=True, exist_ok=True)
    tag = root / "CACHEDIR.TAG"
    if not tag.exists():
        atomic_write_text(tag, CACHEDIR_TAG)
    return root


def cache_subdir(name: str) -> Path:
    """Return (and create) a named folder inside the cache: ``logs``, ``locks``, ``hashes``, ..."""
    path = cache_root() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` so readers see the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as pretty JSON atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any | None:
    """Return the JSON in ``path``, or None when missing or corrupt (the caller rebuilds it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
