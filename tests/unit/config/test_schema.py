"""The JSON Schema covers exactly the fields and step kinds the loader accepts."""

from __future__ import annotations

import json

from iris_envs.config.schema import config_schema, pyproject_schema
from iris_envs.config.spec import StepKind
from iris_envs.config.values import ENV_FIELDS, STEP_OPTIONS, TOP_LEVEL_KEYS


def test_schema_mirrors_the_loader() -> None:
    schema = config_schema()
    json.dumps(schema)  # serialisable
    assert set(schema["properties"]) == set(TOP_LEVEL_KEYS)
    env = schema["$defs"]["env"]
    assert set(env["properties"]) == set(ENV_FIELDS)
    assert all(p.get("description") for p in env["properties"].values())
    steps = schema["$defs"]["step"]["oneOf"]
    assert [s["required"] for s in steps] == [[k.value] for k in StepKind]
    for kind, step in zip(StepKind, steps, strict=True):
        assert set(step["properties"]) == {kind.value, "namespace", *STEP_OPTIONS[kind]}
    matrix = schema["properties"]["matrix"]["additionalProperties"]["properties"]
    assert "exclude" in matrix and "anyOf" in matrix["edition"]


def test_pyproject_schema_nests_under_tool() -> None:
    schema = pyproject_schema()
    inner = schema["properties"]["tool"]["properties"]["iris-envs"]
    assert set(inner["properties"]) == set(TOP_LEVEL_KEYS)
    assert "env" in schema["$defs"]
