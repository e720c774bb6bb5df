"""The upload tar of copy_in, made in pieces as the engine reads it (every entry one owner)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath

from iris_envs.engine.types import FileToCopy
from iris_envs.errors import DockerOperationFailed

# Pieces of an upload (copy_in): large enough that framing costs nothing, small enough to stay
# off the allocator's mmap path (4 MiB pieces made a 1 GiB copy slower here).
_UPLOAD_PIECE = 256 * 1024


def coalesced(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Pass large pieces on as they are and gather small ones (headers, small files) into one:
    each chunk of the upload costs a round of framing and a system call."""
    pending = bytearray()
    for piece in pieces:
        if len(piece) >= _UPLOAD_PIECE:
            if pending:
                yield bytes(pending)
                pending.clear()
            yield piece
            continue
        pending += piece
        if len(pending) >= _UPLOAD_PIECE:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


class TarPieces:
    """A tar of files, every entry owned by one uid:gid, made as pieces while it is sent.

    Entries are what ``TarFile.add`` would write (links stay links, directories recurse in
    sorted order), except that a regular file hashed into ``digests`` is always its content.
    """

    def __init__(
        self, owner: tuple[int, int], file_mode: int | None, digests: dict[str, str] | None
    ) -> None:
        self.uid, self.gid = owner
        self.file_mode = file_mode
        self.digests = digests
        self.total = 0  # content bytes sent
        self.made: set[PurePosixPath] = set()
        # Only for gettarinfo (stat to header, hard links recognised); nothing is written to it.
        self.scratch = tarfile.TarFile(fileobj=io.BytesIO(), mode="w", format=tarfile.PAX_FORMAT)

    def archive(self, root: PurePosixPath, files: Sequence[FileToCopy]) -> Iterator[bytes]:
        """Every piece of the tar of ``files`` under ``root`` (relative), end blocks included."""
        yield from self._folders(root)
        for item in files:
            arcname = root / item.name
            yield from self._folders(arcname.parent)
            if self.digests is not None and item.source.is_file():
                yield from self._content(item.source, str(arcname), item.name)
            else:
                yield from self._entry(item.source, str(arcname))
        yield tarfile.NUL * (2 * tarfile.BLOCKSIZE)  # end of archive

    def _header(self, info: tarfile.TarInfo) -> bytes:
        info.uid, info.gid, info.uname, info.gname = self.uid, self.gid, "", ""
        if self.file_mode is not None and info.isfile():
            info.mode = self.file_mode
        return info.tobuf(tarfile.PAX_FORMAT, self.scratch.encoding, self.scratch.errors)

    def _folders(self, relative: PurePosixPath) -> Iterator[bytes]:
        # Intermediate folders get owned entries too; otherwise the engine makes them root's.
        for part in [*reversed(relative.parents), relative]:
            if str(part) in ("", ".") or part in self.made:
                continue
            self.made.add(part)
            info = tarfile.TarInfo(str(part))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            yield self._header(info)

    def _entry(self, source: Path, arcname: str) -> Iterator[bytes]:
        info = self.scratch.gettarinfo(str(source), arcname=arcname)
        if info.isreg():
            yield from self._content(source, arcname, None)
            return
        yield self._header(info)
        if info.isdir():
            for child in sorted(entry.name for entry in source.iterdir()):
                yield from self._entry(source / child, f"{arcname}/{child}")

    def _content(self, source: Path, arcname: str, name: str | None) -> Iterator[bytes]:
        digest = hashlib.sha256()
        with source.open("rb", buffering=0) as handle:
            # fstat of the open file: the size in the header and the bytes sent belong together.
            info = self.scratch.gettarinfo(arcname=arcname, fileobj=handle)
            yield self._header(info)
            remaining = info.size
            while remaining:
                piece = handle.read(min(_UPLOAD_PIECE, remaining))
                if not piece:
                    raise DockerOperationFailed(
                        f"{source} changed while it was copied: it shrank below the "
                        f"{info.size:,} bytes it had"
                    )
                if self.digests is not None:
                    digest.update(piece)
                remaining -= len(piece)
                yield piece
        yield tarfile.NUL * (-info.size % tarfile.BLOCKSIZE)
        self.total += info.size
        if self.digests is not None and name is not None:
            self.digests[name] = "sha256:" + digest.hexdigest()
