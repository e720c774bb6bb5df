"""A private Docker engine for tests that must not touch the engine everybody else uses: its
engine-wide state (stopped, filled, pruned) or the default image names (zero configuration uses
``intersystemsdc/iris-community:latest-em``, which an IRIS developer's engine likely has).
Needs root and dockerd (as CI has); outside CI it skips. The fixture ``private_engine`` is
shared by tests/integration and tests/reliability (imported by their conftest files)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest


class PrivateEngine:
    """One dockerd with its own data root, socket, bridge and containerd."""

    def __init__(self, root: Path, data_root: Path) -> None:
        self.root = root
        self.data_root = data_root
        self.socket = root / "d.sock"
        self.host = f"unix://{self.socket}"
        # Also a TCP endpoint on another loopback address, as a "remote" engine for tests of
        # DOCKER_HOST=tcp://... (127.0.0.0/8 is all this machine).
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
            self.tcp_host = f"tcp://127.0.0.2:{probe.getsockname()[1]}"
        tag = uuid.uuid4().hex[:4]
        self.bridge = f"br-iet{tag}"
        # 10.231.x.0/24 on a bridge of our own: only this machine's own test network.
        self.subnet = f"10.231.{int(tag, 16) % 250 + 1}.1/24"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            [
                "dockerd",
                "--data-root",
                str(self.data_root),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "dockerd.pid"),
                "-H",
                self.host,
                "-H",
                self.tcp_host,
                f"--bridge={self.bridge}",
                "--iptables=false",
                "--ip-masq=false",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while not self.answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(self.log_tail())
            time.sleep(0.2)

    def wait_until_it_runs_containers(self, image: str, timeout: float = 60) -> None:
        """After a restart dockerd answers before its network store is usable (starting a
        container then fails with "failed to update store ... libnetwork.endpoint"): wait
        until a throw-away container really starts, so the test measures iris-envs, not that."""
        deadline = time.monotonic() + timeout
        while True:
            done = self.docker("run", "--rm", "--entrypoint", "true", image, check=False)
            if done.returncode == 0 or time.monotonic() > deadline:
                return
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop dockerd the way a service manager does (SIGTERM, then wait)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def answers(self) -> bool:
        done = subprocess.run(["docker", "-H", self.host, "info"], capture_output=True, check=False)
        return done.returncode == 0

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "-H", self.host, *args], capture_output=True, text=True, check=check
        )

    def load(self, image: str) -> None:
        """Copy an image from the shared engine (the stand-in) into this one."""
        saved = subprocess.run(["docker", "save", image], capture_output=True, check=True).stdout
        subprocess.run(
            ["docker", "-H", self.host, "load"], input=saved, capture_output=True, check=True
        )

    def log_tail(self) -> str:
        path = self.root / "dockerd.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def can_run_a_private_engine() -> str:
    """Why a private engine cannot run here ('' when it can)."""
    if os.geteuid() != 0:
        return "a private dockerd needs root"
    if not shutil.which("dockerd") or not shutil.which("ip"):
        return "dockerd or ip is not installed"
    return ""


def require_a_private_engine() -> None:
    """Skip (locally) or fail (CI) a test that needs a private engine where none can run."""
    reason = can_run_a_private_engine()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must be able to run a private dockerd: {reason}")
        pytest.skip(reason)


@contextmanager
def private_engine_holding(
    images: Sequence[str], disk_mb: int | None = None
) -> Iterator[PrivateEngine]:
    """A started private engine holding copies of ``images``; stopped and removed afterwards.

    ``disk_mb`` puts its data root on a tmpfs of that size.
    """
    require_a_private_engine()
    # The socket path must stay short (unix sockets: 107 bytes), so not under tmp_path.
    root = Path(f"/tmp/iet-{uuid.uuid4().hex[:8]}")
    root.mkdir()
    data_root = root / "data"
    data_root.mkdir()
    if disk_mb is not None:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={disk_mb}m", "tmpfs", str(data_root)],
            check=True,
        )
    engine = PrivateEngine(root, data_root)
    subprocess.run(["ip", "link", "add", engine.bridge, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", engine.subnet, "dev", engine.bridge], check=True)
        subprocess.run(["ip", "link", "set", engine.bridge, "up"], check=True)
        engine.start()
        for image in images:
            engine.load(image)
        yield engine
    finally:
        if engine.process is not None:
            with_containers = engine.docker("ps", "-aq", check=False).stdout.split()
            if with_containers:
                engine.docker("rm", "-f", *with_containers, check=False)
        engine.stop()
        subprocess.run(["ip", "link", "delete", engine.bridge], check=False)
        if disk_mb is not None:
            subprocess.run(["umount", "-l", str(data_root)], check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def private_engine(
    standin_images: dict[str, str], request: pytest.FixtureRequest
) -> Iterator[PrivateEngine]:
    """A started private engine holding the stand-in images; stopped and removed afterwards.

    ``@pytest.mark.engine_disk(MB)`` puts its data root on a tmpfs of that size. Shared by
    tests/integration and tests/reliability (imported by their conftest files).
    """
    marker = request.node.get_closest_marker("engine_disk")
    disk = None if marker is None else int(marker.args[0])
    with private_engine_holding(list(standin_images.values()), disk) as engine:
        yield engine
