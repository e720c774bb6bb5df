"""Content hashes of files and directory trees, with a stat-cache so unchanged files cost a stat."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iris_envs import bounded

CHUNK_SIZE = 1 << 20  # 1 MiB: large enough that per-call overhead vanishes next to sha256 itself
CACHE_FILE_NAME = "file-hashes.json"
CACHE_FORMAT = 1
# ~200 bytes an entry: room for a million files; a bigger file is dropped and rebuilt.
STAT_CACHE_BYTES = 256 * 1024 * 1024

# A file modified within this many seconds of being hashed may change again without its
# mtime changing (coarse timestamps: 2 s on FAT, a kernel tick elsewhere). Such entries are
# not trusted on the next run, the same "racy clean" rule git applies to its index.
RACY_WINDOW_NS = 2_000_000_000

# Hashing several files at once only pays when there is real work; sha256 releases the GIL
# in hashlib, so threads scale with cores.
PARALLEL_MIN_BYTES = 8 * CHUNK_SIZE
# One file that large is read by a second thread ahead of the hashing one.
READ_AHEAD_MIN_BYTES = 8 * CHUNK_SIZE
READ_AHEAD_BUFFERS = 3
MAX_WORKERS = 8


class UnsafeLink(ValueError):
    """A symlink in an input directory that leaves the project or points nowhere."""

    def __init__(self, link: Path, target: str, reason: str) -> None:
        super().__init__(f"{link} -> {target}: {reason}")
        self.link = link
        self.target = target
        self.reason = reason


def walk_files(root: Path, boundary: Path | None = None) -> list[tuple[str, Path]]:
    """Every regular file under ``root`` as (relative posix path, path), sorted by the former.

    Symlinks (to files and to directories) are followed, because their target's content is what
    the snapshot must hold; one whose target lies outside ``boundary`` (the project root), or
    that points nowhere, raises UnsafeLink. A directory reached twice through links (a cycle) is
    walked once.
    """
    boundary_real = boundary.resolve() if boundary is not None else None
    found: list[tuple[str, Path]] = []
    seen_dirs: set[Path] = set()

    def check(path: Path) -> Path:
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):  # missing target, or a loop of links
            raise UnsafeLink(path, str(path.readlink()), "the target does not exist") from None
        if boundary_real is not None and not real.is_relative_to(boundary_real):
            raise UnsafeLink(path, str(real), f"the target is outside the project {boundary_real}")
        return real

    def walk(directory: Path, relative: str) -> None:
        real_dir = directory.resolve()
        if real_dir in seen_dirs:
            return
        seen_dirs.add(real_dir)
        for entry in sorted(directory.iterdir(), key=lambda p: p.name):
            name = f"{relative}{entry.name}"
            if entry.is_symlink():
                check(entry)
            if entry.is_dir():
                walk(entry, name + "/")
            elif entry.is_file():
                found.append((name, entry))

    walk(root, "")
    found.sort(key=lambda item: item[0])
    return found


def tree_digest(hashes: Iterable[tuple[str, str]]) -> str:
    """The digest of a tree from (relative path, file hash) pairs: sha256 over sorted
    ``relative/path\0filehash\n`` lines (the copy check recomputes it from what was sent)."""
    outer = hashlib.sha256()
    for rel, digest in sorted(hashes):
        outer.update(rel.encode("utf-8", "surrogateescape") + b"\0" + digest.encode() + b"\n")
    return "sha256:" + outer.hexdigest()


@dataclass(frozen=True)
class TreeHash:
    """The hash of a directory tree: sha256 over sorted ``relative/path\\0filehash`` lines."""

    digest: str  # "sha256:<hex>"
    files: int
    size: int
    # (relative path, "sha256:<hex>") per file, sorted: what `explain` names when a folder changed
    entries: tuple[tuple[str, str], ...] = ()


def sha256_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    """Hash one file in 1 MiB chunks into reused buffers (no per-chunk allocation); report each
    chunk's length to ``on_bytes`` (progress of a long hash)."""
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as handle:
        if os.fstat(handle.fileno()).st_size >= READ_AHEAD_MIN_BYTES:
            _hash_read_ahead(handle, digest, on_bytes)
        else:
            buffer = bytearray(CHUNK_SIZE)
            view = memoryview(buffer)
            while count := handle.readinto(buffer):
                digest.update(view[:count])
                if on_bytes is not None:
                    on_bytes(count)
    return "sha256:" + digest.hexdigest()


def _hash_read_ahead(handle: Any, digest: Any, on_bytes: Callable[[int], None] | None) -> None:
    """Read the next chunks on a thread while this one hashes the last: reading (a copy out of
    the page cache, or the disk) and sha256 both release the GIL, so a large file takes about
    the longer of the two instead of their sum (benchmarks/fixture_bench.py: validate vs
    openssl)."""
    free: queue.Queue[bytearray | None] = queue.Queue()
    full: queue.Queue[tuple[bytearray, int] | BaseException | None] = queue.Queue()
    for _ in range(READ_AHEAD_BUFFERS):
        free.put(bytearray(CHUNK_SIZE))

    def read() -> None:
        try:
            while (buffer := free.get()) is not None:
                count = handle.readinto(buffer)
                if not count:
                    full.put(None)
                    return
                full.put((buffer, count))
        except BaseException as error:  # raised again in the hashing thread
            full.put(error)

    reader = threading.Thread(target=read, name="iris-envs-read-ahead", daemon=True)
    reader.start()
    try:
        while (item := full.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            buffer, count = item
            digest.update(memoryview(buffer)[:count])
            free.put(buffer)
            if on_bytes is not None:
                on_bytes(count)
    finally:
        free.put(None)  # stops a reader still going (an error or Ctrl-C here)
        reader.join()  # before the file is closed under it


def _sha256_file(path: Path) -> str:
    """The HashCache's hasher (a seam the tests count calls through)."""
    return sha256_file(path)


class HashCache:
    """File hashes keyed by (path, size, mtime_ns, inode), persisted as one JSON file.

    The JSON file is read once, on first use; ``save`` writes it atomically and only when
    something changed. A missing or corrupt file is treated as empty and rewritten.
    """

    def __init__(self, cache_file: Path | None) -> None:
        self.cache_file = cache_file  # None: in-memory only (tests, read-only cache folders)
        self._entries: dict[str, list[int | str]] | None = None
        self._dirty = False
        self._lock = threading.Lock()

    def _load(self) -> dict[str, list[int | str]]:
        if self._entries is None:
            entries: dict[str, list[int | str]] = {}
            if self.cache_file is not None:
                try:
                    # A stat cache of many thousand files outgrows the default bound.
                    raw = bounded.loads(
                        self.cache_file.read_text(encoding="utf-8"), max_bytes=STAT_CACHE_BYTES
                    )
                except (OSError, ValueError):
                    raw = None
                if (
                    isinstance(raw, dict)
                    and raw.get("format") == CACHE_FORMAT
                    and isinstance(raw.get("files"), dict)
                ):
                    entries = raw["files"]
            self._entries = entries
        return self._entries

    def _lookup(self, key: str, st: os.stat_result) -> str | None:
        entry = self._load().get(key)
        # Validate the shape: a hand-edited or truncated cache must never crash a key.
        if (
            isinstance(entry, list)
            and len(entry) == 4
            and entry[:3] == [st.st_size, st.st_mtime_ns, st.st_ino]
            and isinstance(entry[3], str)
        ):
            return entry[3]
        return None

    def _store(self, key: str, st: os.stat_result, digest: str, hashed_at_ns: int) -> None:
        if hashed_at_ns - st.st_mtime_ns < RACY_WINDOW_NS:
            return
        with self._lock:
            self._load()[key] = [st.st_size, st.st_mtime_ns, st.st_ino, digest]
            self._dirty = True

    def file_hash(self, path: Path) -> str:
        """Return ``sha256:<hex>`` of a file's content, from the cache when its stat matches."""
        st = path.stat()
        key = str(path)
        cached = self._lookup(key, st)
        if cached is not None:
            return cached
        started = time.time_ns()
        digest = _sha256_file(path)
        self._store(key, st, digest, started)
        return digest

    def rehash(self, path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
        """Hash a file's bytes (never trusting the cache) and remember the result, so the next
        key of an unchanged file is not read again (``fixture validate`` then a build)."""
        st = path.stat()
        started = time.time_ns()
        digest = sha256_file(path, on_bytes)
        if path.stat() == st:  # not written while it was read
            self._store(str(path), st, digest, started)
        return digest

    def files_hashes(self, paths: Iterable[Path]) -> list[str]:
        """Hash many files, in parallel when the uncached ones add up to real work."""
        return self._hash_stated([(p, p.stat()) for p in paths])

    def _hash_stated(self, items: list[tuple[Path, os.stat_result]]) -> list[str]:
        results: list[str | None] = [self._lookup(str(p), st) for p, st in items]
        todo = [i for i, r in enumerate(results) if r is None]
        pending_bytes = sum(items[i][1].st_size for i in todo)

        def work(i: int) -> None:
            path, st = items[i]
            started = time.time_ns()
            digest = _sha256_file(path)
            self._store(str(path), st, digest, started)
            results[i] = digest

        workers = min(MAX_WORKERS, os.cpu_count() or 1, len(todo))
        if workers > 1 and pending_bytes >= PARALLEL_MIN_BYTES:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(work, todo))
        else:
            for i in todo:
                work(i)
        return [r for r in results if r is not None]

    def tree_hash(self, root: Path, boundary: Path | None = None) -> TreeHash:
        """Hash a directory: every regular file by sorted relative path (``walk_files``: links
        followed, those leaving ``boundary`` rejected). Empty directories do not count."""
        found = [(rel, path, path.stat()) for rel, path in walk_files(root, boundary)]
        hashes = self._hash_stated([(path, st) for _, path, st in found])
        total = sum(st.st_size for _, _, st in found)
        entries = tuple(sorted((rel, h) for (rel, _p, _s), h in zip(found, hashes, strict=True)))
        return TreeHash(tree_digest(entries), len(found), total, entries)

    def save(self) -> None:
        """Persist the cache atomically if anything changed; failures only cost a re-hash."""
        if not self._dirty or self.cache_file is None or self._entries is None:
            return
        from iris_envs.cache.folder import atomic_write_text

        # Keep what other processes saved meanwhile, then drop entries for files that no
        # longer exist so the cache cannot grow without bound.
        merged = dict(HashCache(self.cache_file)._load())
        merged.update(self._entries)
        live = {k: v for k, v in merged.items() if Path(k).exists()}
        payload = json.dumps({"format": CACHE_FORMAT, "files": live}, separators=(",", ":"))
        try:
            atomic_write_text(self.cache_file, payload)
        except OSError:
            return
        self._dirty = False


_caches: dict[str, HashCache] = {}


def default_cache() -> HashCache:
    """The process-wide cache in ``<cache>/hashes/``: its JSON is loaded once per process."""
    from iris_envs.cache.folder import cache_subdir
    from iris_envs.errors import CacheFolderError

    try:
        path: Path | None = cache_subdir("hashes") / CACHE_FILE_NAME
    except CacheFolderError:
        path = None  # read-only home: hash without caching rather than fail
    key = str(path)
    # Keyed by location so tests that point IRIS_ENVS_CACHE_DIR elsewhere get a fresh cache.
    if key not in _caches:
        _caches[key] = HashCache(path)
    return _caches[key]
