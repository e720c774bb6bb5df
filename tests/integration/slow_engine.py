"""A Unix socket in front of the real engine's that holds back its answers to chosen requests.

The engine does the work at once (a container created, an image committed); only the answer
is late. A signal sent meanwhile lands while the client waits for that answer: the window in
which an interrupted client used to lose what the engine had made (issue 22 item 6).
"""

from __future__ import annotations

import contextlib
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ENGINE_SOCKET = "/var/run/docker.sock"


class SlowEngine:
    """Forward every connection to the engine; answer requests matching ``pattern`` (their
    request line, e.g. rb"POST /v[0-9.]+/commit") ``delay`` seconds late."""

    def __init__(self, pattern: bytes, delay: float) -> None:
        self.pattern = re.compile(pattern)
        self.delay = delay
        self.held = 0  # answers held back so far
        self._folder = tempfile.mkdtemp(prefix="slow-engine-")
        self.path = str(Path(self._folder) / "docker.sock")
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(64)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()
        with contextlib.suppress(OSError):
            Path(self.path).unlink()
            Path(self._folder).rmdir()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(ENGINE_SOCKET)
            hold = threading.Event()  # set: the next answer on this connection is held back
            threading.Thread(
                target=self._requests, args=(client, engine, hold), daemon=True
            ).start()
            threading.Thread(target=self._answers, args=(engine, client, hold), daemon=True).start()

    def _requests(
        self, client: socket.socket, engine: socket.socket, hold: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.pattern.search(data):
                    hold.set()
                engine.sendall(data)
        with contextlib.suppress(OSError):
            engine.shutdown(socket.SHUT_WR)

    def _answers(self, engine: socket.socket, client: socket.socket, hold: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := engine.recv(65536):
                if hold.is_set():
                    hold.clear()
                    self.held += 1
                    time.sleep(self.delay)
                client.sendall(data)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)
        for end in (client, engine):
            with contextlib.suppress(OSError):
                end.close()


@contextlib.contextmanager
def slow_engine(pattern: bytes, delay: float) -> Iterator[SlowEngine]:
    """A SlowEngine for the duration of the block."""
    proxy = SlowEngine(pattern, delay)
    try:
        yield proxy
    finally:
        proxy.close()
