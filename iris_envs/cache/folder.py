"""The platformdirs cache folder: its layout, CACHEDIR.TAG, and atomic writes of its files."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from iris_envs import bounded
from iris_envs.errors import CacheFolderError

CACHE_DIR_ENV = "IRIS_ENVS_CACHE_DIR"  # overrides the platformdirs location (tests, CI caches)

# https://bford.info/cachedir/ : backup tools skip folders carrying this exact signature.
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by iris-envs.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


def cache_location() -> Path:
    """Where the cache folder is (``$IRIS_ENVS_CACHE_DIR`` or platformdirs); creates nothing."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs  # imported here: the CLI's --version must not pay for it

    return Path(platformdirs.user_cache_dir("iris-envs", appauthor=False))


def cache_root() -> Path:
    """Return the cache folder, creating it (and CACHEDIR.TAG) if needed."""
    root = cache_location()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tag = root / "CACHEDIR.TAG"
        if not tag.exists():
            atomic_write_text(tag, CACHEDIR_TAG)
    except OSError as error:
        raise cache_folder_error(error) from None
    return root


def cache_subdir(name: str) -> Path:
    """Return (and create) a named folder inside the cache: ``logs``, ``locks``, ``hashes``, ..."""
    path = cache_root() / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise cache_folder_error(error) from None
    return path


def cache_folder_error(error: OSError) -> CacheFolderError:
    """A clear error for a cache folder that cannot be used: which folder, why, what to do."""
    return CacheFolderError(
        f"the cache folder {cache_location()} cannot be used: "
        f"{error.strerror or error}" + (f" ({error.filename})" if error.filename else ""),
        hint=f"free disk space or fix its permissions, or point {CACHE_DIR_ENV} at a writable "
        "folder (snapshots stay in the Docker engine; the cache only holds hashes, logs, locks "
        "and the snapshot index)",
    )


def is_in_cache(error: OSError) -> bool:
    """Whether a failed file operation was about a path inside the cache folder."""
    names = [n for n in (error.filename, getattr(error, "filename2", None)) if n]
    try:
        root = cache_location().resolve()
    except OSError:
        return False
    return any(Path(os.fsdecode(n)).resolve().is_relative_to(root) for n in names)


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
        return bounded.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
