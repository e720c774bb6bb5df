"""The JSON Schema of the configuration, built from the same tables the loader validates with."""

from __future__ import annotations

from typing import Any

from iris_envs.config.load import TOOL_TABLE
from iris_envs.config.spec import Edition, StepKind
from iris_envs.config.values import ENV_FIELDS, STEP_KINDS, STEP_OPTIONS

SCHEMA_ID = "https://iris-envs.invalid/schema/config.json"  # no hosted copy yet: a stable name

_NAME = "^[A-Za-z0-9][A-Za-z0-9._-]*$"

_STEP_DESCRIPTIONS = {
    StepKind.OBJECTSCRIPT: "a file of ObjectScript lines run with `iris session` (one statement "
    "per line)",
    StepKind.LOAD: "a class/routine file or directory, loaded and compiled with $SYSTEM.OBJ",
    StepKind.SQL: "a SQL DDL file imported with $SYSTEM.SQL.Schema.ImportDDL",
    StepKind.GLOBALS: "a %GOF globals export imported with %Library.Global.Import",
    StepKind.DAT: "a directory holding an IRIS.DAT, added and mounted as a database",
    StepKind.IPM: "an IPM/ZPM module name to install (the image must include IPM)",
    StepKind.SHELL: "a shell command run in the build container",
}

_OPTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "flags": {"type": "string", "default": "ck", "description": "$SYSTEM.OBJ qualifiers"},
    "recurse": {"type": "boolean", "default": True, "description": "load subdirectories too"},
    "dialect": {"type": "string", "default": "IRIS", "description": "ImportDDL SQL dialect"},
    "database": {
        "type": "string",
        "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,63}$",
        "description": "database name (default: the directory's name, upper-cased)",
    },
    "version": {"type": "string", "description": "module version to install"},
    "user": {"enum": ["irisowner", "root"], "default": "irisowner", "description": "run as"},
    "mount": {
        "type": "string",
        "pattern": "^(namespace|database|globals:%?[A-Za-z][A-Za-z0-9.]*\\*?)$",
        "default": "namespace",
        "description": "namespace: the database's data globals and class packages are mapped "
        "into the step's namespace (its own databases stay its defaults); database: only "
        "mounted; globals:PATTERN: a global mapping",
    },
}


def _step_schema(kind: StepKind) -> dict[str, Any]:
    properties: dict[str, Any] = {
        kind.value: {"type": "string", "minLength": 1, "description": _STEP_DESCRIPTIONS[kind]},
        "namespace": {"type": "string", "description": "namespace to run in (default: the env's)"},
    }
    for option in STEP_OPTIONS[kind]:
        properties[option] = _OPTION_SCHEMAS[option]
    return {
        "type": "object",
        "title": f"{kind.value} step",
        "required": [kind.value],
        "additionalProperties": False,
        "properties": properties,
    }


def _env_properties() -> dict[str, Any]:
    props: dict[str, Any] = {
        "image": {"type": "string", "default": "intersystemsdc/iris-community:latest-em"},
        "edition": {"enum": [e.value for e in Edition], "default": "community"},
        "license": {"type": "string"},
        "namespace": {"type": "string", "pattern": "^%?[A-Za-z][A-Za-z0-9_-]{0,63}$"},
        "username": {"type": "string", "pattern": "^[A-Za-z0-9_.@%-]{1,160}$", "default": "test"},
        "password": {"type": "string", "minLength": 1},
        "setup": {"type": "array", "items": {"$ref": "#/$defs/step"}},
        "cpf_merge": {"type": "string"},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "pattern": _NAME}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "platform": {"type": "string", "pattern": "^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$"},
        "ready_timeout": {"type": "number", "exclusiveMinimum": 0, "default": 300},
        "spares": {"type": "integer", "minimum": 0, "maximum": 8, "default": 0},
        "spare_max_age": {"type": "number", "exclusiveMinimum": 0, "default": 24},
        "clones": {"type": "integer", "minimum": 1, "maximum": 16, "default": 2},
        "monitor": {"enum": [False, True, "systemperformance"], "default": False},
        "monitor_interval": {"type": "number", "minimum": 0.2, "maximum": 300, "default": 1},
        "monitor_min_free_memory": {"type": "string", "default": "256MB"},
        "monitor_min_free_disk": {"type": "string", "default": "1GB"},
    }
    for name, allowed in ENV_FIELDS.items():
        props[name]["description"] = allowed
    return props


def config_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of an iris-envs.toml document / the [tool.iris-envs] table."""
    env_props = _env_properties()
    factor = {
        "type": "array",
        "minItems": 1,
        "items": {"type": ["string", "number"]},
        "description": "a factor: one generated environment per value",
    }
    matrix_props: dict[str, Any] = {
        name: (
            schema
            if name
            in (
                "setup",
                "tags",
                "labels",
                "description",
                "password",
                "ready_timeout",
                "spares",
                "spare_max_age",
                "clones",
                "monitor",
                "monitor_interval",
                "monitor_min_free_memory",
                "monitor_min_free_disk",
            )
            else {"anyOf": [schema, factor]}
        )
        for name, schema in env_props.items()
    }
    matrix_props["exclude"] = {
        "type": "array",
        "items": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
        "description": "factor combinations to leave out",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "iris-envs configuration",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "default": {
                "type": "array",
                "items": {"type": "string"},
                "description": "environments selected when neither -e nor -m is given "
                "(default: all)",
            },
            "defaults": {"$ref": "#/$defs/env", "description": "fields shared by every env"},
            "env": {
                "type": "object",
                "description": "the environments: one table per name",
                "propertyNames": {"pattern": _NAME},
                "additionalProperties": {"$ref": "#/$defs/env"},
            },
            "cache": {
                "type": "object",
                "additionalProperties": False,
                "description": "snapshot cache settings (credentials only from `docker login`)",
                "properties": {
                    "registry": {
                        "type": "string",
                        "description": "host[:port][/path] of an OCI registry used as a remote "
                        "snapshot cache by run/build (IRIS_ENVS_REGISTRY and --registry win)",
                    },
                    "max-size": {
                        "type": "string",
                        "description": "run/build prune least recently used snapshots past "
                        "this total size, e.g. 20GB",
                    },
                },
            },
            "matrix": {
                "type": "object",
                "propertyNames": {"pattern": _NAME},
                "description": "generated environments: <prefix>-<factor values...>",
                "additionalProperties": {
                    "type": "object",
                    "properties": matrix_props,
                    "additionalProperties": factor,
                },
            },
        },
        "$defs": {
            "env": {"type": "object", "additionalProperties": False, "properties": env_props},
            "step": {"oneOf": [_step_schema(StepKind(kind)) for kind in STEP_KINDS]},
        },
    }


def pyproject_schema() -> dict[str, Any]:
    """The same schema placed at ``tool.iris-envs`` of a pyproject.toml."""
    inner = config_schema()
    defs = inner.pop("$defs")
    inner.pop("$schema")
    inner.pop("$id")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "pyproject.toml with an iris-envs table",
        "type": "object",
        "properties": {"tool": {"type": "object", "properties": {TOOL_TABLE: inner}}},
        "$defs": defs,
    }
