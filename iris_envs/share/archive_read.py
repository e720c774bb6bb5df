"""A snapshot archive read as data: checked whole before the engine sees any of it, and loaded
as a tar iris-envs writes itself, holding only the checked image and no tag.

``docker load`` unpacks the whole archive before reading it, so a later member replaces an
earlier one of the same name, and it follows links (moby image/tarexport/load.go: Untar, then
``safePath``): a checked ``manifest.json`` followed by a link of that name to another manifest
once retagged arbitrary local images. So the archive is read here with tar_reader.py (bounded
headers, data streamed), only regular members are read as data, and what the engine loads is
rebuilt from them: the config and the layers, with a manifest written here and no RepoTags.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import posixpath
import re
import stat
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from iris_envs import bounded, naming
from iris_envs.engine.client import familiar_ref
from iris_envs.errors import ConfigError
from iris_envs.share.tar_reader import BLOCK, Member, TarFormatError, TarReader

_GZIP_MAGIC = b"\x1f\x8b"
MAX_MEMBERS = 10_000  # a docker save archive has about four per layer
MAX_JSON_MEMBER = 8 * 1024 * 1024  # the image config (its labels hold the key inputs)
MAX_JSON_TOTAL = 32 * 1024 * 1024  # all members kept in memory as possible JSON, together
MAX_TRAILING = 1024 * 1024  # zeros after the end-of-archive marker (tar pads to its record size)
# The names docker save gives the image config: <hex>.json (Docker < 25), blobs/sha256/<hex>.
_CONFIG_NAME = re.compile(r"(?:[0-9a-f]{64}\.json|blobs/sha256/[0-9a-f]{64})")
# Every name docker save writes (moby image/tarexport/save.go, before and since Docker 25), and
# Podman's (containers/image docker/internal/tarfile/writer.go: each layer as <hex>.tar at the
# top, linked from a legacy <id>/layer.tar): an archive with any other member was not made by
# `cache export` and is refused at that member.
_SAVE_NAME = re.compile(
    r"manifest\.json|repositories|index\.json|oci-layout|[0-9a-f]{64}(?:\.json|/json|/VERSION"
    r"|/layer\.tar|\.tar)?|blobs(?:/sha256(?:/[0-9a-f]{64})?)?"
)
# What a legacy layer.tar may link to: another layer.tar (Docker < 25), or Podman's <hex>.tar.
_LINKED_LAYER = re.compile(r"(?:.*/)?layer\.tar|(?:\.\./)?[0-9a-f]{64}\.tar")

Progress = Callable[[int], None]


class ArchiveInvalid(ConfigError):
    """The file is not a complete iris-envs snapshot archive (truncated, corrupt, foreign or
    crafted). Exit 2, as for a file that cannot be read: either way the FILE given is wrong
    (issue 22, item 16); a well-formed archive whose image is refused is SnapshotRefused."""


@dataclass(frozen=True)
class ArchivedSnapshot:
    """What an archive holds, as checked before loading it."""

    ref: str  # iris-envs/<env>:<key12> (import_snapshot returns it as the project's name)
    env: str
    key: str
    image_id: str  # sha256:<digest of the image config>
    labels: dict[str, str]
    layers: tuple[str, ...]  # the config's rootfs.diff_ids, base first
    config: str  # the member holding the image config
    layer_members: tuple[str, ...]  # the regular member holding each layer
    digests: dict[str, str] = field(default_factory=dict)  # member -> sha256 hex, as checked


def bad(path: Path, problem: str) -> ArchiveInvalid:
    """The error for an archive that cannot be imported; nothing was loaded or tagged."""
    return ArchiveInvalid(
        f"{path}: {problem}; nothing was imported",
        hint="export it again with `iris-envs cache export ENV -o FILE` (an archive cut short, "
        "by a full disk or an interrupted download, or changed by hand cannot be loaded)",
    )


@contextlib.contextmanager
def open_archive(path: Path) -> Iterator[BinaryIO]:
    """The archive's tar stream, gunzipped when it is gzip'd; only a regular file is opened
    (it is read twice, and a device such as /dev/zero would never end)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise bad(path, "not a regular file (an archive is read twice: checked, then loaded)")
        if handle.read(2) == _GZIP_MAGIC:
            handle.seek(0)
            with gzip.GzipFile(fileobj=handle, mode="rb") as gz:
                yield cast(BinaryIO, gz)
        else:
            handle.seek(0)
            yield handle


def _member_name(member: Member) -> str:
    name = posixpath.normpath(member.name.rstrip("/")) if member.name.strip("/") else ""
    if not name or name.startswith(("/", "../")) or name == ".." or "\0" in name:
        raise TarFormatError(f"member {member.name!r} names a path outside the archive")
    return name


@dataclass
class _Scan:
    files: dict[str, str] = field(default_factory=dict)  # regular member -> sha256 hex
    links: dict[str, str] = field(default_factory=dict)  # layer.tar link -> member it names
    small: dict[str, bytes] = field(default_factory=dict)  # manifest.json, possible configs
    kept: int = 0  # bytes in ``small``


def _link_target(name: str, member: Member) -> str:
    """Where a link points, as a member name. Only the links docker save writes are accepted:
    ``<id>/layer.tar`` naming another layer.tar (Docker < 25 links a layer met twice) or, from
    Podman, the layer ``../<hex>.tar``."""
    kind = "symbolic link" if member.kind == "symlink" else "hard link"
    if not name.endswith("/layer.tar") or not _LINKED_LAYER.fullmatch(member.linkname):
        raise TarFormatError(
            f"member {name} is a {kind} (to {member.linkname}): an archive is read as data, "
            "and only docker save's layer.tar links are accepted"
        )
    # A symbolic link is relative to its folder, a hard link to the archive's root.
    base = posixpath.dirname(name) if member.kind == "symlink" else ""
    target = posixpath.normpath(posixpath.join(base, member.linkname))
    if target.startswith(("/", "../")) or target == "..":
        raise TarFormatError(f"member {name} links outside the archive ({member.linkname})")
    return target


def _read_member(reader: TarReader, name: str, member: Member, scan: _Scan) -> int:
    """Hash a regular member while streaming it; keep it only when it may be JSON we need."""
    keep = member.size <= MAX_JSON_MEMBER and (
        name == "manifest.json" or _CONFIG_NAME.fullmatch(name) is not None
    )
    sha, count = hashlib.sha256(), 0
    pieces: list[bytes] = []
    for chunk in reader.chunks():
        sha.update(chunk)
        count += len(chunk)
        if keep and (pieces or chunk.lstrip()[:1] in (b"{", b"[")):
            scan.kept += len(chunk)
            if scan.kept > MAX_JSON_TOTAL:
                raise TarFormatError(f"more than {MAX_JSON_TOTAL} bytes of metadata members")
            pieces.append(chunk)
        else:
            keep = False
    if keep and pieces:
        scan.small[name] = b"".join(pieces)
    scan.files[name] = sha.hexdigest()
    return count


def scan_archive(path: Path, on_bytes: Progress | None = None) -> _Scan:
    """Read the WHOLE archive (gzip CRC and length included) as data, in bounded memory."""
    scan, seen, done = _Scan(), set(), 0
    try:
        with open_archive(path) as stream:
            reader = TarReader(stream)
            while (member := reader.next()) is not None:
                if reader.members > MAX_MEMBERS:
                    raise TarFormatError(f"more than {MAX_MEMBERS} members")
                name = _member_name(member)
                if member.kind in ("symlink", "hardlink"):
                    scan.links[name] = _link_target(name, member)
                if not _SAVE_NAME.fullmatch(name):
                    raise TarFormatError(f"member {name} is not one docker save writes")
                if name in seen and member.kind != "dir":
                    raise TarFormatError(f"member {name} appears twice")
                seen.add(name)
                if member.kind == "file":
                    done += _read_member(reader, name, member, scan)
                    if on_bytes is not None:
                        on_bytes(done)
            if not reader.members:
                raise TarFormatError("not a tar archive (no members)")
            _drain(stream)
    except TarFormatError as error:
        raise bad(path, str(error)) from None
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile) as error:
        raise bad(path, f"not a complete archive ({error or type(error).__name__})") from None
    return scan


def _drain(stream: BinaryIO) -> None:
    """Read past the end-of-archive marker to the end (gzip checks its CRC and length only
    there); only a bounded run of zeros may follow."""
    left = MAX_TRAILING
    while chunk := stream.read(min(BLOCK * 128, left + 1)):
        left -= len(chunk)
        if left < 0 or chunk.count(0) != len(chunk):
            raise TarFormatError("data follows the end of the tar archive")


def _json(path: Path, scan: _Scan, name: str) -> Any:
    if name in scan.links:
        raise bad(path, f"{name} is a link: refused")
    if name not in scan.small:
        raise bad(path, f"no readable {name} inside: not a `docker save` archive")
    try:
        return bounded.loads(scan.small[name])
    except ValueError:
        raise bad(path, f"{name} is not valid JSON") from None


def check_contents(path: Path, scan: _Scan) -> ArchivedSnapshot:
    """The one image the archive holds, every part of it present and matching its digest."""
    manifest = _json(path, scan, "manifest.json")
    if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        raise bad(path, "an iris-envs archive holds exactly one image")
    entry = manifest[0]
    config_name = str(entry.get("Config", ""))
    digest = scan.files.get(config_name, "")
    # The engine names the config by its sha256 (<hex>.json or blobs/sha256/<hex>).
    if not _CONFIG_NAME.fullmatch(config_name) or not digest or digest not in config_name:
        raise bad(path, f"{config_name} does not match its checksum (corrupted)")
    config = _json(path, scan, config_name)
    config = config if isinstance(config, dict) else {}
    labels = (config.get("config") or {}).get("Labels") or {}
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    env, key = labels.get(naming.LABEL_ENV), labels.get(naming.LABEL_KEY)
    if labels.get(naming.LABEL_ROLE) != "snapshot" or not env or not key:
        raise bad(path, "the image in it is not an iris-envs snapshot (foreign archive)")
    ref = naming.shared_ref(env, key)  # the project-independent name archives carry
    # Podman writes the tag as docker.io/iris-envs/<env>:<key12>, dockerd as iris-envs/...
    if [familiar_ref(str(tag)) for tag in entry.get("RepoTags") or []] != [ref]:
        raise bad(path, f"the image is tagged {entry.get('RepoTags')}, expected exactly [{ref!r}]")
    layers = entry.get("Layers") or []
    if not isinstance(layers, list) or len(layers) != len(diff_ids):
        raise bad(
            path, f"the manifest lists {len(layers)} layers, the image config {len(diff_ids)}"
        )
    members = []
    for number, (layer, diff_id) in enumerate(zip(layers, diff_ids, strict=True), start=1):
        member = scan.links.get(str(layer), str(layer))
        if member not in scan.files:
            raise bad(path, f"layer {number} ({layer}) is missing")
        # docker save writes layers uncompressed: each one's sha256 is its diff ID.
        if f"sha256:{scan.files[member]}" != diff_id:
            raise bad(path, f"layer {number} ({layer}) does not match its diff ID (corrupted)")
        members.append(member)
    return ArchivedSnapshot(
        ref=ref,
        env=env,
        key=key,
        image_id=f"sha256:{digest}",
        labels={str(k): str(v) for k, v in labels.items()},
        layers=tuple(str(d) for d in diff_ids),
        config=config_name,
        layer_members=tuple(members),
        digests=dict(scan.files),
    )


def inspect_archive(path: Path, on_bytes: Progress | None = None) -> ArchivedSnapshot:
    """Read the whole archive as data and check it holds one complete iris-envs snapshot."""
    return check_contents(path, scan_archive(path, on_bytes))


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info.tobuf(tarfile.PAX_FORMAT)


def load_stream(path: Path, snap: ArchivedSnapshot, on_bytes: Progress | None) -> Iterator[bytes]:
    """The tar the engine loads: the checked config and layers, read again from ``path`` and
    compared with the digests they were checked with, and a manifest with no tag."""
    wanted = {snap.config, *snap.layer_members}
    done = 0
    with open_archive(path) as stream:
        reader = TarReader(stream)
        while (member := reader.next()) is not None:
            name = _member_name(member)
            if member.kind != "file" or name not in wanted:
                continue
            wanted.discard(name)
            yield _header(name, member.size)
            sha = hashlib.sha256()
            for chunk in reader.chunks():
                sha.update(chunk)
                done += len(chunk)
                if on_bytes is not None:
                    on_bytes(done)
                yield chunk
            if sha.hexdigest() != snap.digests.get(name):
                raise bad(path, f"{name} changed since the archive was checked")
            yield bytes(-member.size % BLOCK)
    if wanted:
        raise bad(path, f"{sorted(wanted)[0]} disappeared since the archive was checked")
    manifest = json.dumps(
        [{"Config": snap.config, "RepoTags": [], "Layers": list(snap.layer_members)}]
    ).encode()
    yield _header("manifest.json", len(manifest)) + manifest + bytes(-len(manifest) % BLOCK)
    yield bytes(2 * BLOCK)
