"""A container that runs THIS checkout's iris-envs and Python, as a devcontainer or a CI agent
with the host's Docker socket mounted would (no registry: the image is built here).

The image is an almost empty root filesystem (`docker import`): /bin, /lib and /lib64 point
into /usr, which is the host's /usr mounted read-only, like the Python installation, the
virtual environment and the checkout (each at its own path, so every absolute path in the
venv still holds). The Docker socket is mounted at /var/run/docker.sock.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_REPO = "iris-envs-test/python-client"
SOCKET = "/var/run/docker.sock"
_LINKS = {"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64", "sbin": "usr/sbin"}
_DIRS = ("dev", "etc", "proc", "root", "run", "sys", "tmp", "usr", "var", "var/run", "work")
_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/group": "root:x:0:\n",
}


def _rootfs() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in _DIRS:
            entry = tarfile.TarInfo(name)
            entry.type, entry.mode, entry.mtime = tarfile.DIRTYPE, 0o755, 946684800
            if name == "tmp":
                entry.mode = 0o1777
            archive.addfile(entry)
        for name, target in _LINKS.items():
            entry = tarfile.TarInfo(name)
            entry.type, entry.linkname, entry.mtime = tarfile.SYMTYPE, target, 946684800
            archive.addfile(entry)
        for name, text in _FILES.items():
            data = text.encode()
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode, entry.mtime = len(data), 0o644, 946684800
            archive.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def ensure_client_image() -> str:
    """The client image, imported once (tagged by the content of its root filesystem)."""
    rootfs = _rootfs()
    ref = f"{IMAGE_REPO}:{hashlib.sha256(rootfs).hexdigest()[:12]}"
    found = subprocess.run(["docker", "image", "inspect", ref], capture_output=True, check=False)
    if found.returncode != 0:
        subprocess.run(
            ["docker", "import", "-", ref], input=rootfs, capture_output=True, check=True
        )
    return ref


def _mounts(project: Path) -> list[str]:
    """Read-only binds of /usr, the Python installation, the venv and the checkout (each only
    when not already inside another), the read-write project, and the Docker socket."""
    read_only: list[Path] = []
    for path in (Path("/usr"), Path(sys.base_prefix), Path(sys.prefix), REPO_ROOT):
        resolved = path.resolve()
        if not any(resolved.is_relative_to(other) for other in read_only):
            read_only.append(resolved)
    docker_cli = shutil.which("docker")
    if docker_cli and not any(Path(docker_cli).resolve().is_relative_to(p) for p in read_only):
        read_only.append(Path(docker_cli).resolve().parent)
    args = []
    for path in read_only:
        args += ["--mount", f"type=bind,src={path},dst={path},readonly"]
    args += ["--mount", f"type=bind,src={project},dst={project}"]
    args += ["--mount", f"type=bind,src={SOCKET},dst={SOCKET}"]
    return args


def run_in_client_container(
    argv: Sequence[str],
    project: Path,
    *,
    label: str,
    network: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (``python`` stands for this interpreter) in a fresh client container with
    ``project`` as its working directory; removed afterwards."""
    variables = {
        "HOME": "/root",
        "CI": "true",
        "IRIS_ENVS_CACHE_DIR": "/tmp/iris-envs-cache",
        "PYTHONPATH": str(REPO_ROOT),
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        **(env or {}),
    }
    command = [sys.executable if arg == "python" else arg for arg in argv]
    docker = ["docker", "run", "--rm", "--label", f"org.iris-envs.test={label}"]
    if network:
        docker += ["--network", network]
    for name, value in variables.items():
        docker += ["-e", f"{name}={value}"]
    docker += [*_mounts(project), "-w", str(project), ensure_client_image(), *command]
    return subprocess.run(docker, capture_output=True, text=True, timeout=timeout, check=False)
