"""Portable snapshots: export one to a gzip'd ``docker save`` archive, and import it back safely.

The archive is exactly what ``docker save`` writes (gzip'd, which ``docker load`` also reads),
so the key, the labels and the tag travel inside the image itself. Import reads the whole
archive as data BEFORE the engine sees it (archive_read.py) and checks the image in it as a
pulled one is checked (trust.py): a truncated, corrupted, foreign, crafted or lying file fails
with a clear error, nothing is tagged, and a good snapshot already here is never replaced.

An archive carries the project-independent name ``iris-envs/<env>:<key12>`` (given only while
exporting, travelling_name); import tags the image as the importing project's snapshot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import BinaryIO, cast

from filelock import Timeout

from iris_envs import naming
from iris_envs.cache import index as snapshot_index
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import ConfigError, DockerOperationFailed, IrisEnvsError, OutputFolderError
from iris_envs.share import trust
from iris_envs.share.archive_read import (
    ArchivedSnapshot,
    ArchiveInvalid,
    Progress,
    inspect_archive,
    load_stream,
)

__all__ = [
    "ArchiveInvalid",
    "ArchivedSnapshot",
    "export_snapshot",
    "import_snapshot",
    "travelling_name",
]

# Level 1: snapshots are mostly database files that compress well even at the fastest level,
# and export must stay close to the speed of a plain `docker save` (benchmarks/archive_bench.py).
GZIP_LEVEL = 1


def _gzip_to(out: BinaryIO, chunks: Iterator[bytes], on_bytes: Progress | None) -> None:
    done = 0
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz:
        for chunk in chunks:
            gz.write(chunk)
            done += len(chunk)
            if on_bytes is not None:
                on_bytes(done)


def _check_output(output: Path) -> None:
    """Refuse an output that is not a (new or existing) regular file in an existing folder: a
    symbolic link (``/dev/stdout`` is one) would be replaced, a device or FIFO too."""
    if output.is_symlink():
        raise ConfigError(
            f"cannot write {output}: symbolic link to {output.readlink()}",
            hint="name the file itself (iris-envs never writes through a link), or -o - for stdout",
        )
    if output.is_dir():
        raise ConfigError(f"-o {output}: is a folder", hint="give a file name, e.g. snapshot.tgz")
    if output.exists() and not output.is_file():
        raise ConfigError(
            f"cannot write {output}: not a regular file",
            hint="give a file name, e.g. snapshot.tgz, or -o - to write to stdout",
        )
    if not output.parent.is_dir():
        raise ConfigError(f"-o {output}: folder {output.parent} does not exist")


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
    engine: DockerEngine, ref: str, output: Path | None, on_bytes: Progress | None = None
) -> int:
    """Write ``ref`` as a gzip'd docker save to ``output`` atomically (``None``: to stdout);
    return the bytes of the archive. A full or read-only folder is an OutputFolderError naming
    the file (exit 2), and leaves no partial file."""
    if output is None:
        stdout = sys.stdout.buffer
        counted = _Counting(stdout)
        _gzip_to(cast(BinaryIO, counted), engine.save(ref), on_bytes)
        stdout.flush()
        return counted.count
    _check_output(output)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent)
        with os.fdopen(fd, "wb") as raw:
            _gzip_to(raw, engine.save(ref), on_bytes)
            raw.flush()
            os.fsync(raw.fileno())
        Path(tmp).replace(output)
    except BaseException as error:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
        if isinstance(error, OSError):
            raise OutputFolderError(
                f"cannot write {output}: {error.strerror or error}",
                hint="free space there or make it writable, or write elsewhere (-o FILE, "
                "or -o - for stdout); nothing was left there",
            ) from None
        raise
    return output.stat().st_size


class _Counting:
    """A write-only stream that counts what passes through it (the archive's size on stdout)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()


IMPORT_HINT = (
    "an archive is imported only when it holds that snapshot (docs/snapshots.md, 'Snapshots "
    "from elsewhere'): export it again from a machine that built it, or build it here"
)


def import_snapshot(
    engine: DockerEngine,
    path: Path,
    on_check: Progress | None = None,
    on_load: Progress | None = None,
    *,
    project: str | PurePath,
) -> tuple[ArchivedSnapshot, bool]:
    """Check ``path`` as data, check the image it holds (trust.py), load it untagged, and only
    then tag it as ``project``'s snapshot of its key (and the project's ``latest``) and index
    it. Returns the snapshot, its ``ref`` the project's name for it, and whether it was loaded:
    a good snapshot the project already has under that name is kept, never replaced. On any
    error nothing is tagged and the image loaded (if the engine did not have it before) is
    removed again. The archive's own, project-independent name (``iris-envs/<env>:<key12>``)
    is never tagged here: the image is loaded without a tag."""
    snap = inspect_archive(path, on_check)
    expected = trust.expected_of(engine, snap.labels)
    trust.check_snapshot(str(path), snap.labels, snap.layers, expected, hint=IMPORT_HINT)
    own = naming.snapshot_ref(project, snap.env, snap.key)
    mine = dataclasses.replace(snap, ref=own)
    current = engine.inspect_image(own)
    good_here = current is not None and not trust.snapshot_problems(
        current.labels, current.layers, expected
    )
    if current is not None and good_here and current.id != snap.image_id:
        return mine, False  # the project's good snapshot of this key stays
    had_image = engine.inspect_image(snap.image_id) is not None
    try:
        if not had_image:
            _load(engine, path, snap, on_load)
        loaded = engine.inspect_image(snap.image_id)
        if loaded is None:
            raise DockerOperationFailed(f"the engine did not load {snap.ref} from {path}")
        # What the engine made of it, checked again: its ID is the checked config's digest.
        trust.check_snapshot(str(path), loaded.labels, loaded.layers, expected, hint=IMPORT_HINT)
        engine.tag(loaded.id, own)
        engine.tag(loaded.id, naming.latest_ref(project, snap.env))
    except BaseException:
        if not had_image:  # the image this import loaded, and nothing else
            with contextlib.suppress(IrisEnvsError):
                engine.remove_image(snap.image_id)
        raise
    with contextlib.suppress(OSError, Timeout):
        snapshot_index.record_built(
            own, env=snap.env, key=snap.key, image_id=loaded.id, size=loaded.size
        )
    return mine, True


def _load(
    engine: DockerEngine, path: Path, snap: ArchivedSnapshot, on_load: Progress | None
) -> None:
    """Load the tar load_stream rebuilds from ``path`` (the checked image, no tag)."""
    failure: list[BaseException] = []

    def chunks() -> Iterator[bytes]:
        try:
            yield from load_stream(path, snap, on_load)
        except GeneratorExit:
            raise
        except BaseException as error:  # the HTTP client may wrap it: raised again below
            failure.append(error)
            raise

    try:
        engine.load(chunks())
    except BaseException:
        if failure:
            raise failure[0] from None
        raise
    if failure:
        raise failure[0]
