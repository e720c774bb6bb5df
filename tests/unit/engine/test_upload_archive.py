"""Unit tests: the tar copy_in streams to the engine, read back with Python's tarfile."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from iris_envs.engine.tar_stream import _UPLOAD_PIECE, TarPieces, coalesced
from iris_envs.engine.types import FileToCopy
from iris_envs.errors import DockerOperationFailed
from tests.unit import POSIX_ONLY


def archive(
    root: str, files: list[FileToCopy], digests: dict[str, str] | None = None
) -> tuple[tarfile.TarFile, TarPieces, list[bytes]]:
    tar = TarPieces((51773, 51773), 0o640, digests)
    pieces = list(coalesced(tar.archive(PurePosixPath(root), files)))
    return tarfile.open(fileobj=io.BytesIO(b"".join(pieces))), tar, pieces


@POSIX_ONLY
def test_every_entry_is_owned_by_irisowner_with_folders_links_and_content(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"a" * 1000)
    (tree / "sub" / "b.txt").write_bytes(b"bb")
    (tree / "link").symlink_to("a.txt")
    os.link(tree / "a.txt", tree / "hard")
    extracted, tar, _ = archive("x", [FileToCopy(tree, "tree"), FileToCopy(tree / "a.txt", "t/a")])
    members = {m.name: m for m in extracted.getmembers()}
    assert sorted(members) == [
        "x",
        "x/t",
        "x/t/a",
        "x/tree",
        "x/tree/a.txt",
        "x/tree/hard",
        "x/tree/link",
        "x/tree/sub",
        "x/tree/sub/b.txt",
    ]
    assert {(m.uid, m.gid) for m in members.values()} == {(51773, 51773)}
    assert members["x/tree/link"].issym() and members["x/tree/link"].linkname == "a.txt"
    assert members["x/tree/hard"].islnk() and members["x/t/a"].islnk()  # same inode: once
    assert members["x/tree/sub"].isdir() and members["x/t"].isdir()
    assert members["x/tree/a.txt"].mode == 0o640
    file = extracted.extractfile("x/tree/sub/b.txt")
    assert file is not None and file.read() == b"bb"
    assert tar.total == 1002  # content sent; hard links carry none


def test_large_content_goes_out_in_upload_pieces_and_its_hash_is_what_was_sent(
    tmp_path: Path,
) -> None:
    data = os.urandom(3 * _UPLOAD_PIECE + 5)
    (tmp_path / "IRIS.DAT").write_bytes(data)
    digests: dict[str, str] = {}
    extracted, tar, pieces = archive("", [FileToCopy(tmp_path / "IRIS.DAT", "IRIS.DAT")], digests)
    assert digests == {"IRIS.DAT": "sha256:" + hashlib.sha256(data).hexdigest()}
    file = extracted.extractfile("IRIS.DAT")
    assert file is not None and file.read() == data
    assert tar.total == len(data)
    # Headers and small pieces are gathered; the content is not copied into bigger buffers.
    assert max(len(piece) for piece in pieces) == _UPLOAD_PIECE
    assert len(pieces) <= 6


def test_a_file_that_shrinks_while_it_is_sent_fails_naming_it(tmp_path: Path) -> None:
    big = tmp_path / "IRIS.DAT"
    big.write_bytes(b"x" * (2 * _UPLOAD_PIECE))
    tar = TarPieces((51773, 51773), None, None)
    pieces = tar.archive(PurePosixPath(""), [FileToCopy(big, "IRIS.DAT")])
    next(pieces)  # the header, sized from the file as it was opened
    os.truncate(big, 10)
    with pytest.raises(DockerOperationFailed, match=r"IRIS\.DAT changed while it was copied"):
        list(pieces)
