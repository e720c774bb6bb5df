"""The docker CLI's configuration: its folder, the current context, and a context's endpoint.

Read exactly as the docker CLI lays them out (docker/cli ``cli/config/config.go`` and
``cli/context/store``): the folder is ``$DOCKER_CONFIG`` or ``~/.docker``; ``config.json`` holds
``currentContext``; a context ``NAME`` lives in ``contexts/meta/<sha256(NAME)>/meta.json``
(``{"Name":..., "Endpoints":{"docker":{"Host":..., "SkipTLSVerify":...}}}``) with its TLS files
``ca.pem``, ``cert.pem`` and ``key.pem`` in ``contexts/tls/<sha256(NAME)>/docker/``. docker-py
7.1 reads none of this (``docker.from_env()`` knows only DOCKER_HOST), and its ContextAPI
ignores DOCKER_CONTEXT and DOCKER_CONFIG without a config.json, so iris-envs reads it itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iris_envs import bounded
from iris_envs.errors import DockerUnavailable

DEFAULT_CONTEXT = "default"  # the CLI's reserved context: DOCKER_HOST or the default socket
DOCKER_ENDPOINT = "docker"  # the endpoint name inside a context (cli/context/docker)
_TLS_FILES = ("ca.pem", "cert.pem", "key.pem")


@dataclass(frozen=True)
class TlsFiles:
    """TLS material for a TCP endpoint: any file may be missing (a CA alone is allowed)."""

    ca: Path | None
    cert: Path | None
    key: Path | None
    verify: bool  # check the engine's certificate (against ``ca``, else the system's CAs)

    @property
    def folder(self) -> Path | None:
        """The folder holding the files (DOCKER_CERT_PATH for a client that wants one)."""
        first = self.ca or self.cert or self.key
        return first.parent if first else None


@dataclass(frozen=True)
class ContextEndpoint:
    """The docker endpoint of one named context."""

    name: str
    host: str  # "" = the platform's default socket
    tls: TlsFiles | None


def config_dir(environ: Mapping[str, str]) -> Path:
    """The docker CLI's configuration folder: ``$DOCKER_CONFIG`` or ``~/.docker``."""
    override = environ.get("DOCKER_CONFIG", "")
    if override:
        return Path(override).expanduser()
    home = environ.get("HOME") or environ.get("USERPROFILE")
    return (Path(home) if home else Path.home()) / ".docker"


def current_context(environ: Mapping[str, str]) -> tuple[str, str]:
    """The context the docker CLI would use (when DOCKER_HOST is unset) and where it came from.

    DOCKER_CONTEXT, else ``currentContext`` in config.json, else "default". An unreadable
    config.json counts as empty, as the CLI does (it warns and goes on).
    """
    named = environ.get("DOCKER_CONTEXT", "")
    if named:
        return named, "DOCKER_CONTEXT"
    path = config_dir(environ) / "config.json"
    try:
        data = bounded.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DEFAULT_CONTEXT, ""
    name = data.get("currentContext") if isinstance(data, dict) else None
    if isinstance(name, str) and name:
        return name, f"currentContext in {path}"
    return DEFAULT_CONTEXT, ""


def context_id(name: str) -> str:
    """The folder name of a context in the store: the hex SHA-256 of its name."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def read_context(name: str, origin: str, environ: Mapping[str, str]) -> ContextEndpoint:
    """The docker endpoint of context ``name``; DockerUnavailable (exit 4) if it is missing or
    unreadable, naming the file and where the name came from."""
    store = config_dir(environ) / "contexts"
    meta_path = store / "meta" / context_id(name) / "meta.json"
    fix = (
        "`docker context ls` lists the contexts; `docker context use default` (or unsetting "
        "DOCKER_CONTEXT) goes back to the default engine"
    )
    try:
        meta: Any = bounded.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DockerUnavailable(
            f"Docker context {name!r} (from {origin}) does not exist: no {meta_path}", hint=fix
        ) from None
    except (OSError, ValueError) as error:
        raise DockerUnavailable(
            f"Docker context {name!r} (from {origin}): cannot read {meta_path}: {error}", hint=fix
        ) from None
    endpoints = meta.get("Endpoints") if isinstance(meta, dict) else None
    endpoint = endpoints.get(DOCKER_ENDPOINT) if isinstance(endpoints, dict) else None
    if not isinstance(endpoint, dict):
        raise DockerUnavailable(
            f"Docker context {name!r} (from {origin}) has no docker endpoint in {meta_path}",
            hint=fix,
        )
    host = endpoint.get("Host") or ""
    verify = not endpoint.get("SkipTLSVerify", False)
    return ContextEndpoint(name, str(host), _context_tls(store, name, verify))


def _context_tls(store: Path, name: str, verify: bool) -> TlsFiles | None:
    """The context's TLS files; the CLI uses TLS only when the folder holds any."""
    folder = store / "tls" / context_id(name) / DOCKER_ENDPOINT
    ca, cert, key = ((folder / f) if (folder / f).is_file() else None for f in _TLS_FILES)
    if ca is None and cert is None and key is None:
        return None
    return TlsFiles(ca, cert, key, verify)


def env_tls(environ: Mapping[str, str]) -> TlsFiles | None:
    """TLS for DOCKER_HOST from DOCKER_TLS_VERIFY, DOCKER_CERT_PATH and DOCKER_TLS.

    As docker-py's ``kwargs_from_env`` (which iris-envs used before): TLS when DOCKER_TLS_VERIFY
    is non-empty or DOCKER_CERT_PATH is set; plus the CLI's DOCKER_TLS, which only enables it.
    Certificates default to the CLI's configuration folder.
    """
    verify = bool(environ.get("DOCKER_TLS_VERIFY", ""))
    cert_path = environ.get("DOCKER_CERT_PATH", "")
    if not (verify or cert_path or environ.get("DOCKER_TLS", "")):
        return None
    folder = Path(cert_path).expanduser() if cert_path else config_dir(environ)
    ca, cert, key = ((folder / f) if (folder / f).is_file() else None for f in _TLS_FILES)
    return TlsFiles(ca, cert, key, verify)
