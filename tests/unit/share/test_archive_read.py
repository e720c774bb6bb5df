"""Archives read as data (share/archive_read.py, tar_reader.py): what is refused, and why."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from iris_envs import naming
from iris_envs.share.archive_read import (
    MAX_JSON_TOTAL,
    ArchiveInvalid,
    check_contents,
    scan_archive,
)
from iris_envs.share.tar_reader import MAX_HEADER_DATA

HEX = "a" * 64


def member(name: str, data: bytes = b"", **fields: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def write(path: Path, *members: tuple[tarfile.TarInfo, bytes], tail: bytes = b"") -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    with path.open("ab") as out:
        out.write(tail)
    return path


def refused(path: Path) -> str:
    with pytest.raises(ArchiveInvalid) as caught:
        scan_archive(path)
    return caught.value.message


def test_a_docker_save_shaped_archive_is_read_with_its_links(tmp_path: Path) -> None:
    other = "b" * 64
    path = write(
        tmp_path / "a.tar",
        member(f"{HEX}/", type=tarfile.DIRTYPE),
        member(f"{HEX}/layer.tar", b"layer"),
        member(f"{other}/layer.tar", type=tarfile.SYMTYPE, linkname=f"../{HEX}/layer.tar"),
        member("manifest.json", b"[]"),
        tail=bytes(10240),  # GNU tar pads to its record size
    )
    scan = scan_archive(path)
    assert scan.links == {f"{other}/layer.tar": f"{HEX}/layer.tar"}
    assert scan.small == {"manifest.json": b"[]"}


def test_a_podman_save_shaped_archive_is_read_and_its_docker_io_tag_accepted(
    tmp_path: Path,
) -> None:
    # Podman writes each layer as <hex>.tar at the top, links a legacy <id>/layer.tar to it,
    # and tags the image docker.io/iris-envs/... (read from podman 4.3.1's /images/get).
    layer = b"layer bytes"
    layer_hex = hashlib.sha256(layer).hexdigest()
    ref = naming.shared_ref("app", "k" * 12)
    config = json.dumps(
        {
            "config": {
                "Labels": {
                    naming.LABEL_ROLE: "snapshot",
                    naming.LABEL_ENV: "app",
                    naming.LABEL_KEY: "k" * 12,
                }
            },
            "rootfs": {"diff_ids": [f"sha256:{layer_hex}"]},
        }
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [f"docker.io/{ref}"], "Layers": [f"{layer_hex}.tar"]}]
    ).encode()
    path = write(
        tmp_path / "podman.tar",
        member(f"{layer_hex}.tar", layer),
        member(config_name, config),
        member(f"{HEX}/layer.tar", type=tarfile.SYMTYPE, linkname=f"../{layer_hex}.tar"),
        member(f"{HEX}/VERSION", b"1.0"),
        member(f"{HEX}/json", b"{}"),
        member("manifest.json", manifest),
        member("repositories", b"{}"),
    )
    snap = check_contents(path, scan_archive(path))
    assert snap.ref == ref
    assert snap.layer_members == (f"{layer_hex}.tar",)


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ([member("manifest.json", type=tarfile.SYMTYPE, linkname="x")], "is a symbolic link"),
        ([member("manifest.json", type=tarfile.LNKTYPE, linkname="x")], "is a hard link"),
        (
            [member(f"{HEX}/layer.tar", type=tarfile.SYMTYPE, linkname="../../../etc/layer.tar")],
            "links outside the archive",
        ),
        ([member("manifest.json", b"[]"), member("./manifest.json", b"[]")], "appears twice"),
        ([member("../manifest.json", b"[]")], "outside the archive"),
        ([member("evil.json", b"{}")], "not one docker save writes"),
        ([member(HEX, type=tarfile.CHRTYPE)], "character device"),
        ([member(HEX, type=tarfile.FIFOTYPE)], "FIFO"),
    ],
    ids=["symlink", "hardlink", "link-out", "twice", "dot-dot", "foreign-name", "device", "fifo"],
)
def test_crafted_members_are_refused(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes]], problem: str
) -> None:
    assert problem in refused(write(tmp_path / "a.tar", *members))


def test_headers_and_metadata_are_bounded(tmp_path: Path) -> None:
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, MAX_HEADER_DATA + 1
    big = tmp_path / "pax.tar"
    big.write_bytes(pax.tobuf(tarfile.USTAR_FORMAT) + bytes(MAX_HEADER_DATA + 512))
    assert "extended header" in refused(big)
    chunk = b"{" + bytes(4 << 20)  # config-named JSON-looking members are kept, up to a budget
    configs = [member(f"{n:064x}.json", chunk) for n in range(MAX_JSON_TOTAL // len(chunk) + 1)]
    assert "metadata members" in refused(write(tmp_path / "json.tar", *configs))


def test_not_a_tar_zeros_trailing_data_and_a_bad_gzip_are_refused(tmp_path: Path) -> None:
    zeros = tmp_path / "zeros"
    zeros.write_bytes(bytes(1 << 20))
    assert "no members" in refused(zeros)
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello" * 200)
    assert "not a tar archive" in refused(junk)
    tail = write(tmp_path / "tail.tar", member("manifest.json", b"[]"), tail=b"\0" * 1024 + b"x")
    assert "data follows the end" in refused(tail)
    good = write(tmp_path / "good.tar", member("manifest.json", b"[]")).read_bytes()
    packed = bytearray(gzip.compress(good))
    packed[-8] ^= 0xFF  # the CRC
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(bytes(packed))
    assert "not a complete archive" in refused(broken)
    device = Path("/dev/zero")
    assert "not a regular file" in refused(device)
