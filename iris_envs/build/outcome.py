"""Snapshot: an environment's ready snapshot image and how it was obtained (cached/pulled/built)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Snapshot:
    """A ready snapshot image and how it was obtained."""

    env: str
    ref: str
    image_id: str
    key: str
    cached: bool
    timings: dict[str, float] = field(default_factory=dict)
    layer_bytes: int = 0
    fixture_bytes: int = 0
    tidied_bytes: int = 0  # WIJ and journal files removed before the commit
    reasons: list[str] = field(default_factory=list)
    log_path: Path | None = None
    pulled: bool = False  # came from the registry (--registry): cached, but not built here

    @property
    def state(self) -> str:
        """``cached``, ``pulled`` or ``built``, as progress, the summary and the report name it."""
        if self.pulled:
            return "pulled"
        return "cached" if self.cached else "built"
