"""Portable snapshots: export one to a gzip'd ``docker save`` archive, and import it back safely.

The archive is exactly what ``docker save`` writes (gzip'd, which ``docker load`` also reads),
so the key, the labels and the tag travel inside the image itself. Import checks the whole
archive BEFORE the engine sees it: a truncated, corrupted or foreign file fails with a clear
error and nothing is loaded or tagged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import json
import os
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, BinaryIO, cast

from filelock import Timeout

from iris_envs import naming
from iris_envs.cache import index as snapshot_index
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import ConfigError, DockerOperationFailed, IrisEnvsError

CHUNK = 1024 * 1024
# Level 1: snapshots are mostly database files that compress well even at the fastest level,
# and export must stay close to the speed of a plain `docker save` (benchmarks/archive_bench.py).
GZIP_LEVEL = 1
_GZIP_MAGIC = b"\x1f\x8b"
_SMALL = 4 * 1024 * 1024  # JSON members (manifest, image config) are read whole; layers streamed

Progress = Callable[[int], None]


class ArchiveInvalid(IrisEnvsError):
    """The file is not a complete iris-envs snapshot archive (truncated, corrupt or foreign)."""


@dataclass(frozen=True)
class ArchivedSnapshot:
    """What an archive holds, as checked before loading it."""

    ref: str  # iris-envs/<env>:<key12>: the project-independent name it travels under
    env: str
    key: str
    image_id: str  # sha256:<digest of the image config>
    labels: dict[str, str]


@contextlib.contextmanager
def travelling_name(engine: DockerEngine, ref: str, env: str, key: str) -> Iterator[str]:
    """The project-independent name ``iris-envs/<env>:<key12>`` for the project's snapshot
    ``ref`` while it is exported: an archive must not carry the exporting project's name.

    A name that already exists for the same key is used as it is (the same key is the same
    content); one made here is removed afterwards, the project's own tags are never touched.
    """
    shared = naming.shared_ref(env, key)
    existing = engine.inspect_image(shared)
    if existing is not None and existing.labels.get(naming.LABEL_KEY) == key:
        yield shared
        return
    info = engine.inspect_image(ref)
    if info is None:
        raise DockerOperationFailed(f"no snapshot {ref} to export")
    engine.tag(info.id, shared)
    try:
        yield shared
    finally:
        with contextlib.suppress(IrisEnvsError):
            engine.remove_image(shared)


def export_snapshot(
    engine: DockerEngine, ref: str, output: Path, on_bytes: Progress | None = None
) -> int:
    """Write ``ref`` to ``output`` (gzip'd docker save) atomically; return the bytes written."""
    if output.is_dir():
        raise ConfigError(f"-o {output}: is a folder", hint="give a file name, e.g. snapshot.tgz")
    if not output.parent.is_dir():
        raise ConfigError(f"-o {output}: folder {output.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent)
    done = 0
    try:
        with os.fdopen(fd, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
                for chunk in engine.save(ref):
                    gz.write(chunk)
                    done += len(chunk)
                    if on_bytes is not None:
                        on_bytes(done)
            raw.flush()
            os.fsync(raw.fileno())
        Path(tmp).replace(output)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise
    return output.stat().st_size


@contextlib.contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    """The archive's tar stream, gunzipped when it is gzip'd (a plain docker save works too)."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from None
    with handle:
        if handle.read(2) == _GZIP_MAGIC:
            handle.seek(0)
            with gzip.GzipFile(fileobj=handle, mode="rb") as gz:
                yield cast(BinaryIO, gz)
        else:
            handle.seek(0)
            yield handle


def _bad(path: Path, problem: str) -> ArchiveInvalid:
    return ArchiveInvalid(
        f"{path}: {problem}; nothing was imported",
        hint="export it again with `iris-envs cache export ENV -o FILE` (a copy cut short, "
        "e.g. by a full disk or an interrupted download, cannot be loaded)",
    )


def inspect_archive(path: Path, on_bytes: Progress | None = None) -> ArchivedSnapshot:
    """Read the WHOLE archive (gzip CRC and length included) and check it is one snapshot."""
    small: dict[str, bytes] = {}
    digests: dict[str, str] = {}
    done = 0
    try:
        with _open(path) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                sha = hashlib.sha256()
                head = b""
                while chunk := extracted.read(CHUNK):
                    sha.update(chunk)
                    if member.size <= _SMALL:
                        head += chunk
                    done += len(chunk)
                    if on_bytes is not None:
                        on_bytes(done)
                if member.size <= _SMALL:
                    small[member.name] = head
                digests[member.name] = sha.hexdigest()
            # Drain to the end: gzip checks its CRC and length only there.
            while stream.read(CHUNK):
                pass
    except (EOFError, OSError, zlib.error, tarfile.TarError) as error:
        raise _bad(path, f"not a complete archive ({error or type(error).__name__})") from None
    return _check_contents(path, small, digests)


def _json(path: Path, small: dict[str, bytes], name: str) -> Any:
    if name not in small:
        raise _bad(path, f"no {name} inside: not a `docker save` archive")
    try:
        return json.loads(small[name])
    except ValueError:
        raise _bad(path, f"{name} is not valid JSON") from None


def _check_contents(
    path: Path, small: dict[str, bytes], digests: dict[str, str]
) -> ArchivedSnapshot:
    manifest = _json(path, small, "manifest.json")
    if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        raise _bad(path, "an iris-envs archive holds exactly one image")
    entry = manifest[0]
    config_name = str(entry.get("Config", ""))
    tags = entry.get("RepoTags") or []
    config = _json(path, small, config_name)
    # The engine names the config by its sha256 (blobs/sha256/<hex> or <hex>.json).
    digest = digests.get(config_name, "")
    if digest not in config_name:
        raise _bad(path, f"{config_name} does not match its checksum (corrupted)")
    for layer in entry.get("Layers") or []:
        if layer not in digests:
            raise _bad(path, f"layer {layer} is missing")
    labels = (config.get("config") or {}).get("Labels") or {} if isinstance(config, dict) else {}
    env, key = labels.get(naming.LABEL_ENV), labels.get(naming.LABEL_KEY)
    if labels.get(naming.LABEL_ROLE) != "snapshot" or not env or not key:
        raise _bad(path, "the image in it is not an iris-envs snapshot (foreign archive)")
    ref = naming.shared_ref(env, key)
    if tags != [ref]:
        raise _bad(path, f"the image is tagged {tags}, expected exactly [{ref!r}]")
    return ArchivedSnapshot(ref, env, key, f"sha256:{digest}", dict(labels))


def import_snapshot(
    engine: DockerEngine,
    path: Path,
    on_check: Progress | None = None,
    on_load: Progress | None = None,
    *,
    project: str | PurePath,
) -> ArchivedSnapshot:
    """Check ``path`` completely, load it, name it as ``project``'s snapshot, and record it in
    the index; nothing tagged on error. Returns it with ``ref`` the project's name for it."""
    snap = inspect_archive(path, on_check)
    before = engine.inspect_image(snap.ref)

    def chunks() -> Iterator[bytes]:
        done = 0
        with _open(path) as stream:
            while chunk := stream.read(CHUNK):
                done += len(chunk)
                if on_load is not None:
                    on_load(done)
                yield chunk

    try:
        engine.load(chunks())
        loaded = engine.inspect_image(snap.ref)
        if loaded is None or loaded.id != snap.image_id:
            raise DockerOperationFailed(f"the engine did not load {snap.ref} from {path}")
    except BaseException:
        # The file changed between check and load, or Ctrl-C: untag what this import tagged.
        after = engine.inspect_image(snap.ref)
        if after is not None and (before is None or before.id != after.id):
            with contextlib.suppress(IrisEnvsError):
                engine.remove_image(snap.ref)
        raise
    own = naming.snapshot_ref(project, snap.env, snap.key)
    engine.tag(loaded.id, own)
    engine.tag(loaded.id, naming.latest_ref(project, snap.env))
    # The travelling name is not the project's: drop it, or give it back to the image that had
    # it before the load re-pointed it (another project's, or an older iris-envs').
    with contextlib.suppress(IrisEnvsError):
        if before is None:
            engine.remove_image(snap.ref)
        elif before.id != loaded.id:
            engine.tag(before.id, snap.ref)
    with contextlib.suppress(OSError, Timeout):
        snapshot_index.record_built(
            own, env=snap.env, key=snap.key, image_id=loaded.id, size=loaded.size
        )
    return dataclasses.replace(snap, ref=own)
