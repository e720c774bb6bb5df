"""Builds the stand-in IRIS images (busybox + tini, no registry), cached by content hash."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from filelock import FileLock

# IRIS_ENVS_STANDIN_PREFIX lets two checkouts with different stand-in sources share one engine
# without rebuilding (and untagging) each other's images on every test run.
PREFIX = os.environ.get("IRIS_ENVS_STANDIN_PREFIX", "iris-envs-test")
STANDIN_REPO = f"{PREFIX}/iris-community"
STANDIN_VERSIONS: tuple[str, ...] = ("2024.1", "2025.1")
BASE_REPO = f"{PREFIX}/standin-base"
# The intersystemsdc/* flavour (wrapper entrypoint, IPM), derived from the plain images.
DC_REPO = f"{PREFIX}/intersystemsdc-iris-community"
HASH_LABEL = "org.iris-envs.standin-hash"

HERE = Path(__file__).resolve().parent
ROOTFS = HERE / "rootfs"
DOCKERFILE = HERE / "Dockerfile"
# Host files the root filesystem is assembled from (Debian packages busybox-static and tini).
BUSYBOX = Path("/bin/busybox")
TINI = Path("/usr/bin/tini-static")

# Generous: the first build imports a rootfs and runs a docker build per version.
LOCK_TIMEOUT_S = 600
_LOCK_PATH = Path(tempfile.gettempdir()) / f"{PREFIX.replace('/', '_')}-standin.lock"
# Fixed mtime so the rootfs tarball (and thus the base image tag) is reproducible.
_EPOCH = 946684800  # 2000-01-01
_DIRS = (
    "bin",
    "etc",
    "home",
    "root",
    "sbin",
    "tmp",
    "usr",
    "usr/bin",
    "usr/sbin",
    "usr/irissys",
    "var",
    "var/log",
)


class StandinBuildError(RuntimeError):
    """A docker command needed to build a stand-in image failed."""


def _docker(*args: str, stdin: bytes | None = None, check: bool = True) -> str:
    # DOCKER_BUILDKIT=0: the CLI here has no buildx plugin; the classic builder is enough.
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    proc = subprocess.run(["docker", *args], input=stdin, capture_output=True, env=env, check=False)
    out = proc.stdout.decode(errors="replace")
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        raise StandinBuildError(f"docker {' '.join(args[:3])} ... failed:\n{out}\n{err}")
    return out


def _image_label(tag: str, label: str) -> str | None:
    """The label's value on the image, or None when the image does not exist."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    labels = json.loads(proc.stdout or b"null") or {}
    return str(labels.get(label, ""))


def _source_files() -> list[Path]:
    files = [DOCKERFILE, Path(__file__).resolve()]
    files += [p for p in ROOTFS.rglob("*") if p.is_file()]
    return sorted(files)


def content_hash(version: str) -> str:
    """sha256 over the stand-in sources (paths, modes, contents), the host binaries and version."""
    h = hashlib.sha256()
    for path in [*_source_files(), BUSYBOX, TINI]:
        name = str(path.relative_to(HERE)) if path.is_relative_to(HERE) else str(path)
        # The executable bit matters inside the image, so it is part of the key.
        h.update(f"{name}\0{path.stat().st_mode & 0o111}\0".encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    h.update(f"version\0{version}".encode())
    return h.hexdigest()


def _add(
    tar: tarfile.TarFile,
    name: str,
    *,
    data: bytes | None = None,
    mode: int = 0o755,
    link: str | None = None,
) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = _EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = mode
    if link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        tar.addfile(info)
    elif data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def rootfs_tar() -> bytes:
    """A deterministic tarball: busybox with applet symlinks, /tini, and the rootfs/ overlay."""
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    entries: dict[str, tuple[str, bytes | None, int, str | None]] = {}
    for d in _DIRS:
        entries[d] = ("dir", None, 0o1777 if d == "tmp" else 0o755, None)
    entries["bin/busybox"] = ("file", BUSYBOX.read_bytes(), 0o755, None)
    for applet in applets:
        if applet != "busybox":
            entries.setdefault(f"bin/{applet}", ("link", None, 0o777, "busybox"))
    entries["tini"] = ("file", TINI.read_bytes(), 0o755, None)
    # `USER root` in a Dockerfile needs root in /etc/passwd; the Dockerfile adds irisowner.
    entries["etc/passwd"] = ("file", b"root:x:0:0:root:/root:/bin/sh\n", 0o644, None)
    entries["etc/group"] = ("file", b"root:x:0:\n", 0o644, None)
    for path in sorted(ROOTFS.rglob("*")):
        rel = path.relative_to(ROOTFS).as_posix()
        if path.is_dir():
            entries[rel] = ("dir", None, 0o755, None)
        else:
            mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            entries[rel] = ("file", path.read_bytes(), mode, None)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(entries):
            kind, data, mode, link = entries[name]
            if kind == "dir":
                _add(tar, name, mode=mode)
            elif kind == "link":
                _add(tar, name, link=link, mode=mode)
            else:
                _add(tar, name, data=data, mode=mode)
    return buf.getvalue()


def _ensure_base() -> str:
    data = rootfs_tar()
    tag = f"{BASE_REPO}:{hashlib.sha256(data).hexdigest()[:12]}"
    if _image_label(tag, HASH_LABEL) is None:
        _docker("import", "-", tag, stdin=data)
        # Drop bases of older rootfs versions; one still used by an image or container stays.
        for old in _docker("images", "--format", "{{.Repository}}:{{.Tag}}", BASE_REPO).split():
            if old != tag:
                _docker("image", "rm", old, check=False)
    return tag


def _image_id(tag: str) -> str | None:
    out = _docker("image", "inspect", "--format", "{{.Id}}", tag, check=False).strip()
    return out or None


def _replace_image(tag: str, build: list[str], dockerfile_text: str | None = None) -> None:
    """Run a classic `docker build`, then drop the image the tag pointed to before (if unused)."""
    old = _image_id(tag)
    if dockerfile_text is not None:
        _docker("build", "--force-rm", "-q", "-t", tag, *build, "-", stdin=dockerfile_text.encode())
    else:
        _docker("build", "--force-rm", "-q", "-t", tag, *build)
    new = _image_id(tag)
    if old and old != new:
        _docker("image", "rm", old, check=False)  # still used by a container: keep it


def _build_version(version: str, digest: str) -> str:
    tag = f"{STANDIN_REPO}:{version}"
    base = _ensure_base()
    with tempfile.TemporaryDirectory(prefix="iris-standin-") as ctx:
        # A context holding only the Dockerfile: the rootfs already came in through the base.
        shutil.copy(DOCKERFILE, Path(ctx) / "Dockerfile")
        _replace_image(
            tag,
            [
                "--build-arg",
                f"BASE_IMAGE={base}",
                "--build-arg",
                f"IRIS_VERSION={version}",
                "--build-arg",
                f"STANDIN_HASH={digest}",
                ctx,
            ],
        )
    return tag


def ensure_standin_images() -> dict[str, str]:
    """Build (or reuse) the stand-in image for every STANDIN_VERSIONS entry: {version: tag}."""
    wanted = {v: content_hash(v) for v in STANDIN_VERSIONS}
    images = {v: f"{STANDIN_REPO}:{v}" for v in STANDIN_VERSIONS}

    def stale() -> list[str]:
        return [v for v in STANDIN_VERSIONS if _image_label(images[v], HASH_LABEL) != wanted[v]]

    if not stale():
        return images
    # Parallel test processes (xdist workers) must not build the same images twice.
    with FileLock(str(_LOCK_PATH), timeout=LOCK_TIMEOUT_S):
        for version in stale():
            _build_version(version, wanted[version])
    return images


def _derived_variant(parent: str, tag: str, lines: list[str]) -> str:
    """Build ``tag`` FROM ``parent`` with extra Dockerfile lines, cached by parent id + lines."""
    parent_id = _image_id(parent) or ""
    digest = hashlib.sha256("\0".join([parent_id, *lines]).encode()).hexdigest()
    if _image_label(tag, HASH_LABEL) == digest:
        return tag
    dockerfile = "\n".join([f"FROM {parent}", *lines, f'LABEL {HASH_LABEL}="{digest}"', ""])
    with FileLock(str(_LOCK_PATH), timeout=LOCK_TIMEOUT_S):
        if _image_label(tag, HASH_LABEL) != digest:
            _replace_image(tag, [], dockerfile)
    return tag


def _with_file(path: str, content: str) -> list[str]:
    return ["USER root", f"RUN echo {content} > {path}", "USER 51773"]


def build_slow_variant(version: str, delay_seconds: float, *, parent: str | None = None) -> str:
    """A derived stand-in whose iris-main waits delay_seconds before `Enabling logons`."""
    base = parent or ensure_standin_images()[version]
    delay = f"{delay_seconds:g}"
    tag = f"{base}-slow{delay}"
    return _derived_variant(base, tag, _with_file("/usr/irissys/standin-delay", delay))


def build_dc_variant(version: str, *, foreground: bool = False) -> str:
    """The intersystemsdc flavour: /tini -- /docker-entrypoint.sh, IPM installed in USER.

    ``foreground`` selects the older wrapper that runs iris-main in the foreground without a
    trap, so `docker stop` kills IRIS uncleanly (iris-facts.md "Image contract").
    """
    parent = ensure_standin_images()[version]
    mode = "foreground" if foreground else "background"
    tag = f"{DC_REPO}:{version}" + ("-fg" if foreground else "")
    lines = [
        "USER root",
        f"RUN echo {mode} > /usr/irissys/standin-wrapper-mode"
        " && echo USER > /usr/irissys/standin-ipm-home",
        "USER 51773",
        'ENTRYPOINT ["/tini", "--", "/docker-entrypoint.sh"]',
    ]
    return _derived_variant(parent, tag, lines)


def build_expired_variant(version: str) -> str:
    """A community stand-in whose license has expired: IRIS refuses to start, container exits."""
    parent = ensure_standin_images()[version]
    tag = f"{parent}-expired"
    return _derived_variant(parent, tag, _with_file("/usr/irissys/standin-license-expired", "1"))


if __name__ == "__main__":
    for version, image in ensure_standin_images().items():
        print(f"{version}: {image}")
