"""File and tree hashes, the stat-cache that lets unchanged files cost only a stat, and the
hashing copy out of a container."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from iris_envs.cache import hashing
from iris_envs.cache.hashing import HashCache, default_cache
from iris_envs.engine import archive as docker_adapter
from iris_envs.errors import OutputFolderError
from tests.unit import write


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every real (uncached) file hash."""
    calls: list[Path] = []
    real = hashing._sha256_file

    def spy(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(hashing, "_sha256_file", spy)
    return calls


def test_file_hash_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    data = os.urandom(hashing.CHUNK_SIZE * 2 + 123)
    path = write(tmp_path / "f", data)
    assert HashCache(None).file_hash(path) == "sha256:" + hashlib.sha256(data).hexdigest()


def test_stat_cache_avoids_rehash_and_persists(tmp_path: Path, counted: list[Path]) -> None:
    path = write(tmp_path / "f", "abc")
    store = tmp_path / "cache.json"
    cache = HashCache(store)
    first = cache.file_hash(path)
    assert cache.file_hash(path) == first and len(counted) == 1
    cache.save()
    assert HashCache(store).file_hash(path) == first and len(counted) == 1
    # Same size, new mtime: re-hashed.
    write(path, "abd")
    assert HashCache(store).file_hash(path) != first and len(counted) == 2


def test_recently_modified_files_are_not_trusted(tmp_path: Path, counted: list[Path]) -> None:
    path = write(tmp_path / "f", "abc", old=False)
    cache = HashCache(None)
    cache.file_hash(path)
    cache.file_hash(path)
    assert len(counted) == 2  # inside the racy window: hashed each time


@pytest.mark.parametrize("garbage", ["{not json", "[]", '{"format": 1, "files": {"x": 3}}', ""])
def test_corrupt_cache_is_ignored_and_rebuilt(tmp_path: Path, garbage: str) -> None:
    path = write(tmp_path / "f", "abc")
    store = write(tmp_path / "cache.json", garbage)
    cache = HashCache(store)
    assert cache.file_hash(path) == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    cache.save()
    assert str(path) in json.loads(store.read_text())["files"]


def test_tree_hash_sees_names_content_and_new_files(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write(root / "a.txt", "1")
    write(root / "sub" / "b.txt", "2")
    (root / "empty").mkdir()
    cache = HashCache(None)
    base = cache.tree_hash(root)
    assert base.files == 2 and base.size == 2
    (root / "empty2").mkdir()
    assert cache.tree_hash(root) == base  # empty folders carry nothing
    write(root / "sub" / "b.txt", "3")
    changed = cache.tree_hash(root)
    assert changed.digest != base.digest
    (root / "sub" / "b.txt").rename(root / "sub" / "c.txt")
    assert cache.tree_hash(root).digest != changed.digest
    write(root / "new", "")
    assert cache.tree_hash(root).files == 3


def test_parallel_hashing_matches_serial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "tree"
    for i in range(6):
        write(root / f"f{i}", os.urandom(4096))
    serial = HashCache(None).tree_hash(root)
    monkeypatch.setattr(hashing, "PARALLEL_MIN_BYTES", 1)
    assert HashCache(None).tree_hash(root) == serial


def test_default_cache_is_one_per_location(tmp_path: Path, isolated_cache: Path) -> None:
    assert default_cache() is default_cache()
    assert default_cache().cache_file == isolated_cache / "hashes" / hashing.CACHE_FILE_NAME


def test_a_large_file_is_read_ahead_on_a_thread_and_hashes_the_same(tmp_path: Path) -> None:
    data = os.urandom(hashing.READ_AHEAD_MIN_BYTES + 12345)
    big = tmp_path / "IRIS.DAT"
    big.write_bytes(data)
    seen: list[int] = []
    readers: list[str] = []

    def progress(count: int) -> None:
        seen.append(count)
        readers.extend(t.name for t in threading.enumerate() if t.name == "iris-envs-read-ahead")

    assert hashing.sha256_file(big, progress) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert sum(seen) == len(data)
    assert readers, "the read-ahead thread was not used for a large file"
    assert "iris-envs-read-ahead" not in {t.name for t in threading.enumerate()}


class FailingHandle:
    """A file whose third read fails, as a disk error would."""

    def __init__(self) -> None:
        self.reads = 0

    def readinto(self, buffer: bytearray) -> int:
        self.reads += 1
        if self.reads == 3:
            raise OSError(5, "Input/output error")
        buffer[:4] = b"data"
        return 4


def test_a_read_error_on_the_read_ahead_thread_reaches_the_caller() -> None:
    with pytest.raises(OSError, match="Input/output error"):
        hashing._hash_read_ahead(FailingHandle(), hashlib.sha256(), None)
    assert "iris-envs-read-ahead" not in {t.name for t in threading.enumerate()}


def test_an_interrupted_hash_stops_the_read_ahead_thread(tmp_path: Path) -> None:
    big = tmp_path / "IRIS.DAT"
    big.write_bytes(b"\0" * (hashing.READ_AHEAD_MIN_BYTES * 4))

    def interrupt(count: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        hashing.sha256_file(big, interrupt)
    assert "iris-envs-read-ahead" not in {t.name for t in threading.enumerate()}


# --- copy_out's write-behind (the engine's stream hashed and written on a second thread) ---


class FullDisk(io.BytesIO):
    """A destination whose writes fail once ``room`` bytes are written (ENOSPC)."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.room:
            raise OSError(28, "No space left on device")
        return super().write(data)


def writers() -> set[str]:
    return {t.name for t in threading.enumerate()} & {"iris-envs-write-behind"}


def test_the_write_behind_copy_hashes_and_writes_every_byte_in_order() -> None:
    data = os.urandom(5 * 1024 * 1024 + 777)
    out = io.BytesIO()
    seen: list[int] = []
    digest = docker_adapter._hash_and_write_behind(
        io.BytesIO(data), out, seen.append, target=Path("out/IRIS.DAT")
    )
    assert digest == hashlib.sha256(data).hexdigest()
    assert out.getvalue() == data and sum(seen) == len(data)
    assert writers() == set()


def test_a_full_disk_under_the_write_behind_copy_reaches_the_caller() -> None:
    data = io.BytesIO(b"x" * (40 * 1024 * 1024))  # more than the queue holds
    # An error of the host's side, with the file and the fix named (not the engine's, exit 2).
    with pytest.raises(OutputFolderError, match=r"cannot write out/IRIS.DAT: No space left"):
        docker_adapter._hash_and_write_behind(
            data, FullDisk(3 * 1024 * 1024), None, target=Path("out/IRIS.DAT")
        )
    assert data.tell() < 40 * 1024 * 1024  # reading stopped early, not after the whole stream
    assert writers() == set()


def test_an_interrupted_write_behind_copy_stops_its_writer() -> None:
    def interrupt(count: int) -> None:
        raise KeyboardInterrupt

    out = io.BytesIO()
    with pytest.raises(KeyboardInterrupt):
        docker_adapter._hash_and_write_behind(
            io.BytesIO(b"y" * (4 << 20)), out, interrupt, target=Path("out/IRIS.DAT")
        )
    assert writers() == set()
    assert out.getvalue() == b"y" * (1 << 20)  # the chunk read before Ctrl-C, nothing after
