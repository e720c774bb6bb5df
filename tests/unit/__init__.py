"""Unit tests (no Docker): shared fakes for the configuration, key and explain tests."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from iris_envs import naming
from iris_envs.engine.discovery import Endpoint
from iris_envs.engine.types import ImageInfo

# Tests of POSIX behaviour the Windows job cannot run: symlinks (an administrator's right
# there), `sh`, unix sockets, signals. The code under them degrades on Windows instead, which
# tests/unit/test_windows.py checks with sys.platform faked.
POSIX_ONLY = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX only (symlinks, sh, unix sockets or signals)"
)

# The engine a fake engine claims to be (for the spare lock's scope, the `docker` hints).
FAKE_ENDPOINT = Endpoint("unix:///fake/docker.sock", "a fake engine", configured=False)


def image(
    image_id: str, tags: tuple[str, ...] = (), labels: Mapping[str, str] | None = None
) -> ImageInfo:
    """An ImageInfo with only what these tests look at."""
    return ImageInfo(
        id=image_id,
        tags=tags,
        repo_digests=(),
        labels=dict(labels or {}),
        created="2026-01-01T00:00:00Z",
        size=1,
        os="linux",
        architecture="amd64",
    )


@dataclass
class FakeEngine:
    """The three DockerEngine methods the key/explain code uses, over an in-memory image list."""

    images: list[ImageInfo] = field(default_factory=list)
    arch: str = "linux/amd64"

    def inspect_image(self, ref: str) -> ImageInfo | None:
        for info in self.images:
            if ref == info.id or ref in info.tags:
                return info
        return None

    def images_by_label(self, labels: Mapping[str, str | None]) -> list[ImageInfo]:
        return [
            info
            for info in self.images
            if all(
                k in info.labels and (v is None or info.labels[k] == v) for k, v in labels.items()
            )
        ]

    def platform(self) -> str:
        return self.arch

    def add_snapshot(
        self, env: str, key: str, inputs: Mapping[str, object], created: str, *, project: Path
    ) -> None:
        """Register a snapshot image of ``project`` the way the builder labels and tags it."""
        self.images.append(
            image(
                f"sha256:{key}",
                (naming.snapshot_ref(project, env, key),),
                {
                    naming.LABEL_ROLE: "snapshot",
                    naming.LABEL_ENV: env,
                    naming.LABEL_KEY: key,
                    naming.LABEL_INPUTS: json.dumps(inputs),
                    naming.LABEL_CREATED: created,
                },
            )
        )


def write(path: Path, text: str | bytes, *, old: bool = True) -> Path:
    """Write a file; ``old`` backdates its mtime so the hash stat-cache trusts it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    if old:
        stamp = time.time() - 3600
        os.utime(path, (stamp, stamp))
    return path


def toml_value(value: object) -> str:
    """Render a Python value as an inline TOML value (JSON string escapes are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # Not ASCII-escaped (JSON's surrogate pairs are invalid TOML); DEL must be escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))
