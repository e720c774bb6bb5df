"""The default test-user password (a fixed value so keys travel) and redaction of secrets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from iris_envs.config.spec import EnvSpec

REDACTED = "********"
DEFAULT_SHOWN = "<default>"
# 14 letters and "-": valid under IRIS's password patterns (default 3.32ANP, "locked down"
# 8.32ANP; IRIS docs, "System-Wide Security Parameters") and safe in IRIS_SQLALCHEMY_URL.
DEFAULT_PASSWORD = "iris-envs-test"


def default_password() -> str:
    """The password of the test user when the configuration gives none (the same everywhere).

    Keys must travel: two clones of one project, on two machines, must compute the same key,
    or no CI runner ever reuses another runner's snapshot from a registry or an exported
    archive. A password generated per machine or per checkout enters the key (as a salted
    hash) and breaks that, so the zero-config password is a fixed, documented value instead.
    The trade-off (docs/cache-key.md): anyone who can reach the published port knows the
    password, which is why ports are bound to 127.0.0.1; a project that needs a private one
    sets ``password = "$MY_VAR"`` (and then every runner needs the same value to share keys).

    Nothing is read from or written to the cache folder: earlier versions stored generated
    passwords in ``<cache>/secrets/``; such files are left untouched for the user to inspect.
    """
    return DEFAULT_PASSWORD


def redact(text: str, secret_values: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` with ``********``."""
    # Longest first, so a secret that contains another is hidden whole.
    for value in sorted({v for v in secret_values if v}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def password_display(spec: EnvSpec) -> str:
    """How a password is shown anywhere: never its value."""
    return DEFAULT_SHOWN if spec.password_generated else REDACTED


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
        "clones": spec.clones,
        "monitor": spec.monitor or False,
        "monitor_interval": spec.monitor_interval,
        "monitor_min_free_memory": spec.monitor_min_free_memory,
        "monitor_min_free_disk": spec.monitor_min_free_disk,
        "project_root": str(spec.project_root),
        "config_file": None if spec.config_file is None else str(spec.config_file),
    }
