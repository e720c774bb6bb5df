"""What makes an image from outside an environment's snapshot (share/trust.py), one rule a test."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from iris_envs import naming
from iris_envs.key.cache_key import RECIPE_VERSION, canonical_json
from iris_envs.share.trust import Expected, snapshot_problems

BASE_ID = "sha256:" + "b" * 64
BASE_LAYERS = ("sha256:" + "1" * 64, "sha256:" + "2" * 64)
OWN_LAYER = "sha256:" + "3" * 64


def inputs(**changes: Any) -> dict[str, Any]:
    return {"recipe": RECIPE_VERSION, "base_image": {"ref": "x:1", "id": BASE_ID}, **changes}


def key_of(data: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def labels_for(data: dict[str, Any], **changes: str) -> dict[str, str]:
    labels = {
        naming.LABEL_ROLE: "snapshot",
        naming.LABEL_ENV: "app",
        naming.LABEL_KEY: key_of(data),
        # As commit.py writes it: json.dumps escapes non-ASCII, canonical_json does not.
        naming.LABEL_INPUTS: json.dumps(data, sort_keys=True, separators=(",", ":")),
        naming.LABEL_BASE_IMAGE: BASE_ID,
    }
    labels.update(changes)
    return labels


def expected(data: dict[str, Any]) -> Expected:
    return Expected(env="app", key=key_of(data), base_id=BASE_ID, base_layers=BASE_LAYERS)


def test_an_honest_snapshot_passes_also_with_non_ascii_inputs() -> None:
    data = inputs(namespace="ÜBER")
    assert snapshot_problems(labels_for(data), (*BASE_LAYERS, OWN_LAYER), expected(data)) == []


@pytest.mark.parametrize(
    ("layers", "problem"),
    [
        (BASE_LAYERS, "a snapshot adds at least one"),  # the base image itself
        ((BASE_LAYERS[0], OWN_LAYER, OWN_LAYER), "layer 2 is 333333333333"),
        ((), "0 layers"),
    ],
    ids=["the-base-itself", "another-base", "no-layers"],
)
def test_layers_must_extend_the_base(layers: tuple[str, ...], problem: str) -> None:
    data = inputs()
    [found] = snapshot_problems(labels_for(data), layers, expected(data))
    assert "do not extend" in found and problem in found


def test_no_base_image_to_compare_with_is_a_refusal() -> None:
    data = inputs()
    want = Expected(env="app", key=key_of(data), base_id=BASE_ID, base_layers=())
    [found] = snapshot_problems(labels_for(data), (*BASE_LAYERS, OWN_LAYER), want)
    assert "not in this engine" in found


@pytest.mark.parametrize(
    ("labels", "problem"),
    [
        ({naming.LABEL_ROLE: ""}, "not an iris-envs snapshot"),
        ({naming.LABEL_INPUTS: ""}, "records no key inputs"),
        ({naming.LABEL_INPUTS: "[1]"}, "records no key inputs"),
        ({naming.LABEL_ENV: "other"}, "'other', not 'app'"),
        ({naming.LABEL_BASE_IMAGE: "x:1"}, "base-image is x:1"),
        ({naming.LABEL_KEY: "f" * 64}, "key is ffffffffffff"),
    ],
    ids=["no-role", "no-inputs", "inputs-not-an-object", "env", "base-label", "key-label"],
)
def test_every_label_must_match(labels: dict[str, str], problem: str) -> None:
    data = inputs()
    found = snapshot_problems(labels_for(data, **labels), (*BASE_LAYERS, OWN_LAYER), expected(data))
    assert any(problem in text for text in found), found


def test_inputs_of_other_content_or_recipe_do_not_hash_to_the_key() -> None:
    honest = inputs()
    for other, problem in ((inputs(setup=["x"]), None), (inputs(recipe=0), "recipe version 0")):
        labels = labels_for(other, **{naming.LABEL_KEY: key_of(honest)})
        found = snapshot_problems(labels, (*BASE_LAYERS, OWN_LAYER), expected(honest))
        assert any("hash to" in text for text in found), found
        assert problem is None or any(problem in text for text in found), found
