"""Generated test-user passwords (stored 0600 in the cache folder) and redaction of secrets."""

from __future__ import annotations

import hashlib
import json
import secrets as _stdlib_secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from iris_envs.manifest import EnvSpec

REDACTED = "********"
GENERATED = "<generated>"
SECRETS_SUBDIR = "secrets"
PASSWORD_BYTES = 18  # 24 URL-safe characters: safe inside IRIS_SQLALCHEMY_URL without quoting


def _project_file(project_root: Path) -> Path:
    from iris_envs.cache_dir import cache_subdir

    folder = cache_subdir(SECRETS_SUBDIR)
    # Only the owner may list or read generated passwords (other users share /tmp caches in CI).
    folder.chmod(0o700)
    digest = hashlib.sha256(str(project_root.resolve()).encode("utf-8", "surrogateescape"))
    return folder / f"{digest.hexdigest()[:24]}.json"


def _read_passwords(path: Path) -> dict[str, str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # missing or corrupt: regenerate (costs one snapshot rebuild, never a crash)
    passwords = raw.get("passwords") if isinstance(raw, dict) else None
    if not isinstance(passwords, dict):
        return {}
    return {k: v for k, v in passwords.items() if isinstance(k, str) and isinstance(v, str) and v}


def generated_password(project_root: Path, env_name: str) -> str:
    """Return the password generated for this project and environment, creating it once.

    It is stored in ``<cache>/secrets/<project-hash>.json`` with mode 0600, so the same
    password (and therefore the same snapshot key) is used on every run on this machine.
    """
    path = _project_file(project_root)
    known = _read_passwords(path).get(env_name)
    if known:
        return known
    from filelock import FileLock

    from iris_envs.cache_dir import atomic_write_text

    # Two parallel first runs must agree on one password, so re-read under a lock.
    with FileLock(str(path) + ".lock"):
        passwords = _read_passwords(path)
        if env_name not in passwords:
            passwords[env_name] = _stdlib_secrets.token_urlsafe(PASSWORD_BYTES)
            payload = {"project": str(project_root.resolve()), "passwords": passwords}
            # atomic_write_text creates its temp file with mkstemp, i.e. mode 0600 already.
            atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
            path.chmod(0o600)
        return passwords[env_name]


def redact(text: str, secret_values: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` with ``********``."""
    # Longest first, so a secret that contains another is hidden whole.
    for value in sorted({v for v in secret_values if v}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def password_display(spec: EnvSpec) -> str:
    """How a password is shown anywhere: never its value."""
    return GENERATED if spec.password_generated else REDACTED


def redacted_manifest(spec: EnvSpec) -> dict[str, Any]:
    """The resolved environment as JSON-ready data with every secret replaced."""
    return {
        "name": spec.name,
        "image": spec.image,
        "edition": spec.edition.value,
        "license": (
            None
            if spec.license is None
            else {"source": spec.license.source, "path": str(spec.license.path)}
        ),
        "namespace": spec.namespace,
        "username": spec.username,
        "password": password_display(spec),
        "setup": [
            {
                "index": step.index,
                "kind": step.kind.value,
                "source": step.source,
                "path": None if step.path is None else str(step.path),
                "namespace": step.namespace or spec.namespace,
                "options": dict(step.options),
            }
            for step in spec.setup
        ],
        "cpf_merge": None if spec.cpf_merge is None else str(spec.cpf_merge),
        "description": spec.description,
        "tags": list(spec.tags),
        "labels": dict(spec.labels),
        "platform": spec.platform,
        "ready_timeout": spec.ready_timeout,
        "spares": spec.spares,
        "spare_max_age_hours": spec.spare_max_age / 3600,
        "project_root": str(spec.project_root),
        "config_file": None if spec.config_file is None else str(spec.config_file),
    }
