"""Files into and out of containers as streamed tar archives (the engine's archive endpoint)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import tarfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, Any

from iris_envs.engine.client import EngineClient
from iris_envs.engine.tar_stream import TarPieces, coalesced
from iris_envs.engine.types import FileToCopy
from iris_envs.errors import DockerOperationFailed, OutputFolderError

# Files stream in and out of containers in 1 MiB pieces: .DAT fixtures can be gigabytes.
_CHUNK = 1024 * 1024


# Chunks read ahead of the hashing writer of copy_out (bounded: 8 MiB in memory at most).
_WRITE_BEHIND_CHUNKS = 8
# copy_out's files: created new, exclusively, never through a symlink (O_NOFOLLOW: POSIX).
_NEW_FILE = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)


def _output_error(target: Path, error: OSError) -> OutputFolderError:
    """A failed write on the host side of a copy out. Told apart from the engine's side: a
    missing folder (FileNotFoundError) would otherwise read as a missing engine socket, and a
    full disk ended in a traceback."""
    return OutputFolderError(
        f"cannot write {target}: {error.strerror or error}",
        hint="free space there, make it writable, or name another folder",
    )


def _hash_and_write_behind(
    source: IO[bytes],
    out: IO[bytes],
    on_bytes: Callable[[int], None] | None,
    *,
    target: Path,
) -> str:
    """Copy ``source`` to ``out`` and return its sha256 hex digest, hashing and writing each
    chunk on a second thread while this one reads the next off the engine's stream: sha256 and
    the write release the GIL, so a 1 GiB fixture costs about the longer of the two, not the
    sum (benchmarks/fixture_bench.py: fixture create vs docker cp out)."""
    digest = hashlib.sha256()
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=_WRITE_BEHIND_CHUNKS)
    failure: list[BaseException] = []

    def write() -> None:
        while (chunk := chunks.get()) is not None:
            if failure:
                continue  # drain: the reader stops at its next put
            try:
                digest.update(chunk)
                out.write(chunk)
            except BaseException as error:  # raised again in the reading thread
                failure.append(error)

    writer = threading.Thread(target=write, name="iris-envs-write-behind", daemon=True)
    writer.start()
    try:
        while not failure and (chunk := source.read(_CHUNK)):
            chunks.put(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    finally:
        chunks.put(None)  # also on an error or Ctrl-C here: the writer ends before `out` closes
        writer.join()
    if failure:
        if isinstance(failure[0], OSError):
            raise _output_error(target, failure[0]) from None
        raise failure[0]
    return digest.hexdigest()


class _ChunkReader(io.RawIOBase):
    """A read-only stream over an iterator of byte chunks (the engine's archive response)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def _member_name(name: str) -> str | None:
    """A tar member's name without its first component (the folder get_archive was asked for;
    a lone file keeps its name); None when it would leave the destination."""
    parts = PurePosixPath(name).parts
    if name.startswith("/") or any(part in ("..", "") for part in parts):
        return None
    rest = parts[1:] if len(parts) > 1 else parts
    return "/".join(rest) if rest else None


class FileOps(EngineClient):
    """Files into and out of containers as streamed tar archives (put_archive/get_archive)."""

    def copy_in(
        self,
        container_id: str,
        destination: str,
        files: Sequence[FileToCopy],
        *,
        uid: int,
        gid: int,
        file_mode: int | None = None,
        create: bool = True,
        digests: dict[str, str] | None = None,
    ) -> int:
        """Copy host files/directories into ``destination``, owned by uid:gid; return bytes sent.

        With ``digests``, each regular file in ``files`` is hashed while it streams into the
        archive and ``digests[name]`` gets its ``sha256:<hex>``: what was sent, not what the file
        holds by now (a caller compares it with the hash its cache key used).

        With ``create`` the parent of ``destination`` must exist and ``destination`` is created
        owned by uid:gid; without it ``destination`` must exist and keeps its owner and mode.

        The engine keeps the ownership written in the tar headers, so files arrive owned by the
        given user (IRIS can only open an IRIS.DAT owned by irisowner, UID 51773).
        """
        # The tar is made as the engine reads it (chunked upload): a multi-gigabyte IRIS.DAT is
        # read once and never spooled to disk. Made in this thread, in large pieces: the engine
        # extracts as fast as the pieces come, and a tarfile writer on a thread behind a pipe
        # made 1 GiB take 1.5x as long (benchmarks/fixture_bench.py, restore).
        failure: list[BaseException] = []
        tar = TarPieces((uid, gid), file_mode, digests)
        root = PurePosixPath(PurePosixPath(destination).name if create else "")
        finished: list[bool] = []

        def chunks() -> Iterator[bytes]:
            try:
                yield from coalesced(tar.archive(root, files))
            except GeneratorExit:  # closed unfinished: the engine stopped reading (a refusal)
                raise
            except BaseException as error:  # the HTTP client may wrap it: raised again below
                failure.append(error)
                raise
            finished.append(True)

        parent = str(PurePosixPath(destination).parent) if create else destination
        try:
            with self._translate(f"copy files into container {container_id[:12]}"):
                ok = self._api.put_archive(container_id, parent, chunks())
        except BaseException:
            if failure:
                raise failure[0] from None
            raise
        if failure:
            raise failure[0]
        if not ok or not finished:
            raise DockerOperationFailed(f"copy into {destination} was refused by the engine")
        return tar.total

    def read_file(self, container_id: str, path: str) -> bytes:
        """Return the content of one regular file in a (running or stopped) container."""
        with self._translate(f"copy {path} out of container {container_id[:12]}"):
            stream, _stat = self._api.get_archive(container_id, path)
            buffer = io.BytesIO(b"".join(stream))
        with tarfile.open(fileobj=buffer) as archive:
            member = archive.next()
            extracted = archive.extractfile(member) if member is not None else None
            if extracted is None:
                raise DockerOperationFailed(f"{path} in container {container_id[:12]} is no file")
            return extracted.read()

    def copy_out(
        self,
        container_id: str,
        path: str,
        destination: Path,
        *,
        names: Sequence[str] | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> dict[str, tuple[int, str]]:
        """Stream the regular files of ``path`` (a file or folder) in a container into the host
        folder ``destination``, hashing while they stream; return {relative name: (size,
        "sha256:<hex>")}. Nothing is held in memory or spooled: the engine's tar stream is read
        once. Only regular files are written (links, devices are skipped) and a member name that
        would leave ``destination`` is refused, as is one that exists there already (a file or
        a link). ``names`` limits it to those relative names.
        """
        wanted = set(names) if names is not None else None
        found: dict[str, tuple[int, str]] = {}
        with (
            self._translate(f"copy {path} out of container {container_id[:12]}"),
            self._archive_response(container_id, path) as response,
        ):
            chunks = response.iter_content(chunk_size=_CHUNK, decode_unicode=False)
            reader = io.BufferedReader(_ChunkReader(chunks), _CHUNK)
            with tarfile.open(fileobj=reader, mode="r|") as archive:
                for member in archive:
                    relative = _member_name(member.name)
                    if not member.isfile() or relative is None:
                        continue
                    if wanted is not None and relative not in wanted:
                        continue
                    target = destination / relative
                    source = archive.extractfile(member)
                    assert source is not None
                    try:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        # A new file only: never one that is there, nor through a link there.
                        out = os.fdopen(os.open(target, _NEW_FILE, 0o644), "wb")
                    except OSError as error:
                        raise _output_error(target, error) from None
                    with out:
                        digest = _hash_and_write_behind(source, out, on_bytes, target=target)
                    found[relative] = (member.size, "sha256:" + digest)
        return found

    @contextlib.contextmanager
    def _archive_response(self, container_id: str, path: str) -> Iterator[Any]:
        """The engine's streamed archive of ``path``, closed when the block ends, also on an
        error or Ctrl-C: while the response is open the engine holds the container (an exec
        into it waits), so an interrupted copy must hang up before anything else runs there.
        The SDK's get_archive returns only a generator over it, which cannot close the socket."""
        api: Any = self._api
        response = api._get(
            api._url("/containers/{0}/archive", container_id),
            params={"path": path},
            stream=True,
            headers={"Accept-Encoding": "identity"},
        )
        try:
            api._raise_for_status(response)
            yield response
        finally:
            response.close()
