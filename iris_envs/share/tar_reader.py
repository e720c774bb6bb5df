"""A tar archive read as data: member headers parsed here, bounded, data streamed in chunks.

Python's tarfile reads a PAX or GNU long-name header's whole content into memory and keeps a
list of old-style sparse blocks, whatever their size; an archive someone else made must not
decide how much memory iris-envs uses. This reader keeps at most one bounded header in memory,
knows only the member types ``docker save`` writes (files, folders, symbolic and hard links),
and refuses every other one. Formats: POSIX ustar with PAX extended headers, and GNU's long
names and base-256 sizes (pubs.opengroup.org, "pax - Interchange format"; GNU tar manual,
"Basic Tar Format").
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

BLOCK = 512
CHUNK = 1024 * 1024
MAX_HEADER_DATA = 1024 * 1024  # a PAX or GNU long-name header's own content
_ZERO_BLOCK = bytes(BLOCK)
_KINDS = {b"0": "file", b"\0": "file", b"7": "file", b"5": "dir", b"1": "hardlink", b"2": "symlink"}
_NAMES = {b"3": "character device", b"4": "block device", b"6": "FIFO", b"S": "GNU sparse file"}


class TarFormatError(ValueError):
    """The bytes are not a tar archive, or use something this reader refuses."""


@dataclass(frozen=True)
class Member:
    """One member as its headers describe it."""

    name: str
    kind: str  # file | dir | symlink | hardlink
    size: int
    linkname: str


def _number(field: bytes, what: str) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 (sizes past 8 GiB)
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarFormatError(f"not a tar archive (a header's {what} is not a number)") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax_records(data: bytes) -> dict[str, str]:
    """``"<length> <key>=<value>\\n"`` records (POSIX pax extended header)."""
    records: dict[str, str] = {}
    position = 0
    while position < len(data):
        space = data.find(b" ", position)
        try:
            length = int(data[position:space]) if space > position else 0
        except ValueError:
            length = 0
        record = data[space + 1 : position + length]
        if length <= 0 or position + length > len(data) or not record.endswith(b"\n"):
            raise TarFormatError("a PAX extended header is malformed")
        key, _, value = record[:-1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position += length
    return records


class TarReader:
    """Members of a tar stream, one at a time; ``chunks()`` streams the current one's data."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._remaining = 0  # data bytes of the current member not read yet
        self._padding = 0
        self.members = 0

    def _read(self, count: int) -> bytes:
        data = self._stream.read(count)
        if len(data) != count:
            raise EOFError("the archive ends in the middle of a member")
        return data

    def _skip_rest(self) -> None:
        for _ in self.chunks():
            pass
        if self._padding:
            self._read(self._padding)
            self._padding = 0

    def _header(self) -> bytes | None:
        block = self._stream.read(BLOCK)
        if block == _ZERO_BLOCK or (not block and self.members):
            return None  # the end-of-archive marker (a missing one is tolerated, as tar does)
        if len(block) != BLOCK:
            raise TarFormatError("not a tar archive (shorter than one header)")
        stored = _number(block[148:156], "checksum")
        unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
        signed = unsigned - 2 * sum(byte for byte in block[:148] + block[156:] if byte > 127)
        if stored not in (unsigned, signed):
            raise TarFormatError("not a tar archive (a header's checksum does not match)")
        return block

    def next(self) -> Member | None:
        """The next member, skipping what is left of the current one; None at the end."""
        self._skip_rest()
        overrides: dict[str, str] = {}
        while (block := self._header()) is not None:
            kind, size = block[156:157], _number(block[124:136], "size")
            if kind not in (b"x", b"g", b"L", b"K"):
                return self._member(block, kind, size, overrides)
            if size > MAX_HEADER_DATA:
                raise TarFormatError(
                    f"an extended header of {size} bytes (at most {MAX_HEADER_DATA})"
                )
            data = self._read(-(-size // BLOCK) * BLOCK)[:size]
            if kind == b"x":
                overrides.update(_pax_records(data))
            elif kind in (b"L", b"K"):
                overrides["path" if kind == b"L" else "linkpath"] = _text(data)
        return None

    def _member(self, block: bytes, kind: bytes, size: int, overrides: dict[str, str]) -> Member:
        name = _text(block[0:100])
        if block[257:263] == b"ustar\0" and block[345]:  # POSIX ustar: a name prefix
            name = _text(block[345:500]) + "/" + name
        name = overrides.get("path", name)
        if kind not in _KINDS:
            what = _NAMES.get(kind, f"type {kind!r}")
            raise TarFormatError(f"member {name} is a {what}: only files, folders and links")
        if "size" in overrides:
            try:
                size = int(overrides["size"])
            except ValueError:
                raise TarFormatError(f"member {name} has a malformed PAX size") from None
        if kind in (b"1", b"2", b"5"):
            size = 0 if kind != b"5" else size
        self.members += 1
        self._remaining, self._padding = size, -size % BLOCK
        linkname = overrides.get("linkpath", _text(block[157:257]))
        return Member(name=name, kind=_KINDS[kind], size=size, linkname=linkname)

    def chunks(self) -> Iterator[bytes]:
        """The current member's data, in pieces of at most CHUNK bytes."""
        while self._remaining:
            data = self._stream.read(min(CHUNK, self._remaining))
            if not data:
                raise EOFError("the archive ends in the middle of a member")
            self._remaining -= len(data)
            yield data
