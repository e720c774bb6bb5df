"""Which engine iris-envs talks to, and why: the docker CLI's order, then well-known sockets.

1. ``DOCKER_HOST``;
2. else the current Docker context (DOCKER_CONTEXT, then ``currentContext``: engine/contexts.py);
3. else the default socket (``/var/run/docker.sock``; a named pipe on Windows);
4. else, only when nothing was configured and the default socket does not answer, the first
   well-known socket that answers: Colima, Rancher Desktop, Docker Desktop, rootless Docker,
   Podman (rootless, then rootful). A configured engine is never replaced by another: if
   DOCKER_HOST or a context names a dead engine, that is the error.

Steps 1-2 are the docker CLI's own order (docker/cli ``cli/command/cli.go``,
``resolveContextName``); step 4 is where Colima, Rancher Desktop, Docker Desktop and Podman put
their sockets (their documentation, and testcontainers-java's list of strategies).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from iris_envs.engine.contexts import (
    DEFAULT_CONTEXT,
    TlsFiles,
    current_context,
    env_tls,
    read_context,
)
from iris_envs.errors import DockerUnavailable

DEFAULT_SOCKET = "/var/run/docker.sock"
WINDOWS_PIPE = "npipe:////./pipe/docker_engine"
ROOTFUL_PODMAN_SOCKET = "/run/podman/podman.sock"
PROBE_TIMEOUT = 2.0

# A probe: None when an engine answers at the unix socket path, else why not.
Probe = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Endpoint:
    """The engine chosen: its address, why it was chosen, and what else was tried."""

    host: str  # unix:///..., tcp://..., ssh://..., npipe://...
    source: str  # why, for people: "DOCKER_HOST", "Docker context 'ci' (DOCKER_CONTEXT)", ...
    context: str | None = None  # the context's name, when one was used
    tls: TlsFiles | None = None
    configured: bool = True  # named by the user (DOCKER_HOST, a context) rather than found
    tried: tuple[str, ...] = field(default=())  # sockets probed before this one, with reasons

    def describe(self) -> str:
        """``unix:///var/run/docker.sock (the default socket)``."""
        return f"{self.host} ({self.source})"

    def cli_args(self) -> list[str]:
        """Arguments that make the docker CLI talk to this same engine.

        A context is named (its TLS files are then the CLI's to read); a socket iris-envs found
        on its own is passed with ``-H``; DOCKER_HOST and the default need nothing (the CLI
        inherits the one and defaults to the other). Never both: the CLI refuses that.
        """
        if self.context is not None:
            return ["--context", self.context]
        if not self.configured and self.host != default_host():
            return ["-H", self.host]
        return []

    def sdk_environment(self) -> dict[str, str]:
        """The DOCKER_* variables that make ``docker.from_env()`` (testcontainers) use it."""
        env = {"DOCKER_HOST": self.host}
        if self.tls is not None:
            folder = self.tls.folder
            if folder is not None:
                env["DOCKER_CERT_PATH"] = str(folder)
            env["DOCKER_TLS_VERIFY"] = "1" if self.tls.verify else ""
        return env

    @property
    def is_local(self) -> bool:
        """A socket or pipe of this machine (published ports are on its loopback)."""
        return self.host.startswith(("unix://", "npipe://", "fd://"))


def default_host() -> str:
    """The platform's default engine address (docker/cli ``opts/hosts.go``)."""
    return WINDOWS_PIPE if sys.platform == "win32" else f"unix://{DEFAULT_SOCKET}"


def well_known_sockets(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(who, socket path) of engines that do not use the default socket, in probing order."""
    home = Path(environ.get("HOME") or Path.home())
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    found = [
        ("Colima", home / ".colima" / "default" / "docker.sock"),
        ("Rancher Desktop", home / ".rd" / "docker.sock"),
        ("Docker Desktop", home / ".docker" / "run" / "docker.sock"),  # macOS
        ("Docker Desktop", home / ".docker" / "desktop" / "docker.sock"),  # Linux
    ]
    if runtime:
        found += [
            ("rootless Docker", Path(runtime) / "docker.sock"),
            ("Podman", Path(runtime) / "podman" / "podman.sock"),
        ]
    found.append(("Podman (rootful)", Path(ROOTFUL_PODMAN_SOCKET)))
    return [(who, str(path)) for who, path in found]


def configured_endpoint(environ: Mapping[str, str] | None = None) -> Endpoint | None:
    """The engine the user named (DOCKER_HOST or a context), or None when nothing is named.

    Reads files only, never the network. DockerUnavailable when a named context is missing.
    """
    env = os.environ if environ is None else environ
    host = env.get("DOCKER_HOST", "")
    if host:
        return Endpoint(host, "DOCKER_HOST", tls=env_tls(env))
    name, origin = current_context(env)
    if name == DEFAULT_CONTEXT:
        return None
    context = read_context(name, origin, env)
    return Endpoint(
        context.host or default_host(),
        f"Docker context {name!r} ({origin})",
        context=name,
        tls=context.tls,
    )


def configured_host(environ: Mapping[str, str] | None = None) -> str:
    """The configured engine's address, else the default one; never raises (a broken context
    is reported where the engine is used)."""
    try:
        endpoint = configured_endpoint(environ)
    except DockerUnavailable:
        return default_host()
    return endpoint.host if endpoint is not None else default_host()


def discover(environ: Mapping[str, str] | None = None, probe: Probe | None = None) -> Endpoint:
    """The engine to use (see the module docstring), probing sockets only when none is named."""
    env = os.environ if environ is None else environ
    configured = configured_endpoint(env)
    if configured is not None:
        return configured
    default = Endpoint(default_host(), "the default socket", configured=False)
    if sys.platform == "win32":
        return default  # a named pipe: nothing else to look for
    check = probe or probe_socket
    tried: list[str] = []
    problem = check(DEFAULT_SOCKET)
    if problem is None:
        return default
    tried.append(f"{default.host} (the default socket): {problem}")
    for who, path in well_known_sockets(env):
        problem = check(path)
        if problem is None:
            return Endpoint(
                f"unix://{path}",
                f"{who}'s socket: nothing configured and the default socket does not answer",
                configured=False,
                tried=tuple(tried),
            )
        tried.append(f"unix://{path} ({who}): {problem}")
    return Endpoint(default.host, default.source, configured=False, tried=tuple(tried))


def probe_socket(path: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None when an engine is at the unix socket ``path``, else why not.

    It must accept the connection and answer ``GET /_ping`` with 200, or take longer than
    ``timeout`` to answer: a busy engine (a load test, a commit of gigabytes) is still the one
    to use, never a reason to switch to another one for this command.
    """
    if not Path(path).exists():
        return "no such socket"
    family = getattr(socket, "AF_UNIX", None)
    if family is None:
        return "unix sockets are not supported here"
    try:
        status = _ping(family, path, timeout)
    except OSError as error:
        return error.strerror or str(error)
    if status is None or (status.startswith("HTTP/") and " 200" in status):
        return None
    return f"not an engine (it answered {status!r})" if status else "closed without an answer"


def _ping(family: int, path: str, timeout: float) -> str | None:
    """The status line the socket answers a ping with; None if it connects but is slow."""
    with socket.socket(family, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(path)
        try:
            conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = conn.recv(64)
        except TimeoutError:
            return None  # connected, slow to answer: busy, but there
    return answer.split(b"\r\n", 1)[0].decode("latin-1", errors="replace")
