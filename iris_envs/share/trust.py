"""Whether a snapshot made elsewhere (pulled from a registry, or imported) may be used here.

The trust model (docs/snapshots.md, "Snapshots from elsewhere"): whoever can push to the
registry, or hands over an archive, is trusted. These checks catch mistakes and naive tampering
(an image under the wrong tag, another snapshot relabelled with this key, an image of another
base, inputs of another recipe), not a malicious writer, who can build an image that passes
them all. A signature check (cosign, notation) would come before these, on the pulled digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iris_envs import bounded, naming
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import SnapshotRefused
from iris_envs.key.cache_key import RECIPE_VERSION, canonical_json


@dataclass(frozen=True)
class Expected:
    """What a snapshot must be: of this environment and key, on this base image's layers."""

    env: str
    key: str
    base_id: str  # "" when not known
    base_layers: tuple[str, ...]  # the base image's RootFS layers; () when it is not here


def recorded_inputs(labels: Mapping[str, str]) -> dict[str, Any] | None:
    """The key inputs the snapshot's label records, or None when absent or not a JSON object."""
    try:
        inputs = bounded.loads(labels.get(naming.LABEL_INPUTS) or "null")
    except ValueError:
        return None
    return inputs if isinstance(inputs, dict) else None


def _short(digest: object) -> str:
    return str(digest).removeprefix("sha256:")[:12] or "(none)"


def _input_problems(labels: Mapping[str, str], expected: Expected) -> list[str]:
    inputs = recorded_inputs(labels)
    if inputs is None:
        return [f"it records no key inputs (label {naming.LABEL_INPUTS})"]
    problems = []
    recipe = inputs.get("recipe")
    if recipe != RECIPE_VERSION:
        problems.append(
            f"its inputs name recipe version {recipe}, this iris-envs builds {RECIPE_VERSION}"
        )
    base = inputs.get("base_image")
    base_id = base.get("id") if isinstance(base, dict) else None
    if base_id != expected.base_id:
        problems.append(
            f"its inputs name base image {_short(base_id)}, not {_short(expected.base_id)}"
        )
    # The same canonical JSON and sha256 as key/cache_key.py: the label holds exactly the inputs
    # the key was computed from (its JSON escapes non-ASCII; parsing undoes that).
    digest = hashlib.sha256(canonical_json(inputs).encode("utf-8")).hexdigest()
    if digest != expected.key:
        problems.append(
            f"its recorded inputs hash to {_short(digest)}, not to the key {_short(expected.key)}"
        )
    return problems


def _layer_problem(layers: Sequence[str], expected: Expected) -> str | None:
    base = expected.base_layers
    if not base:
        return (
            f"its base image {_short(expected.base_id)} is not in this engine, so its layers "
            "cannot be checked against it (pull or load the base image first)"
        )
    # A snapshot is its base image's layers plus at least the one its commit made.
    if len(layers) > len(base) and tuple(layers[: len(base)]) == base:
        return None
    for index, (have, want) in enumerate(zip(layers, base, strict=False)):
        if have != want:
            return (
                f"its layers do not extend those of base image {_short(expected.base_id)} "
                f"(layer {index + 1} is {_short(have)}, the base's is {_short(want)})"
            )
    return (
        f"its layers do not extend those of base image {_short(expected.base_id)} "
        f"({len(layers)} layers, the base has {len(base)}; a snapshot adds at least one)"
    )


def snapshot_problems(
    labels: Mapping[str, str], layers: Sequence[str], expected: Expected
) -> list[str]:
    """Every way the image fails to be ``expected``'s snapshot; empty when it is."""
    role = labels.get(naming.LABEL_ROLE)
    if role != "snapshot" or not labels.get(naming.LABEL_KEY):
        return [f"it is not an iris-envs snapshot (label {naming.LABEL_ROLE} is {role!r})"]
    problems = []
    env = labels.get(naming.LABEL_ENV)
    if env != expected.env:
        problems.append(f"its label {naming.LABEL_ENV} is {env!r}, not {expected.env!r}")
    key = labels[naming.LABEL_KEY]
    if key != expected.key:
        problems.append(
            f"its label {naming.LABEL_KEY} is {_short(key)}, not {_short(expected.key)}"
        )
    problems += _input_problems(labels, expected)
    base_label = labels.get(naming.LABEL_BASE_IMAGE)
    if base_label != expected.base_id:
        problems.append(
            f"its label {naming.LABEL_BASE_IMAGE} is {_short(base_label)}, "
            f"not {_short(expected.base_id)}"
        )
    layer_problem = _layer_problem(layers, expected)
    if layer_problem:
        problems.append(layer_problem)
    return problems


def check_snapshot(
    what: str, labels: Mapping[str, str], layers: Sequence[str], expected: Expected, *, hint: str
) -> None:
    """Raise SnapshotRefused naming every mismatch unless the image is ``expected``'s snapshot."""
    problems = snapshot_problems(labels, layers, expected)
    if problems:
        raise SnapshotRefused(f"{what} refused: " + "; ".join(problems), hint=hint)


def expected_of(engine: DockerEngine, labels: Mapping[str, str]) -> Expected:
    """What an imported snapshot must be by its own labels: their env and key, on the layers of
    the base image its inputs name, as this engine has it (by ID, as keys name it)."""
    inputs = recorded_inputs(labels) or {}
    base = inputs.get("base_image")
    base_id = str(base.get("id") or "") if isinstance(base, dict) else ""
    info = engine.inspect_image(base_id) if base_id.startswith("sha256:") else None
    return Expected(
        env=labels.get(naming.LABEL_ENV, ""),
        key=labels.get(naming.LABEL_KEY, ""),
        base_id=base_id,
        base_layers=info.layers if info is not None and info.id == base_id else (),
    )
