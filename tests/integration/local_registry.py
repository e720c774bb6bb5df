"""A real OCI registry for tests: Debian's ``docker-registry`` on 127.0.0.1, own port and storage.

The engine allows plain HTTP to 127.0.0.0/8 registries by default ("insecure registries"
include 127.0.0.0/8), so no daemon configuration is needed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BINARY = "docker-registry"
CONFIG = """\
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_registry(folder: Path) -> Iterator[str]:
    """Start a registry storing into ``folder``; yield ``127.0.0.1:PORT``; stop it afterwards."""
    binary = shutil.which(BINARY)
    if binary is None:
        pytest.fail(
            "docker-registry is not installed: run scripts/ensure-docker (apt-get install "
            "docker-registry)",
            pytrace=False,
        )
    port = free_port()
    (folder / "storage").mkdir(parents=True, exist_ok=True)
    config = folder / "config.yml"
    config.write_text(CONFIG.format(root=folder / "storage", port=port), encoding="utf-8")
    log = (folder / "registry.log").open("wb")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"docker-registry did not start: {(folder / 'registry.log')}")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
