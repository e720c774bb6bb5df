"""[matrix.<prefix>] tables: factors expanded into one environment per combination."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from iris_envs.config.context import Context, Field, Path_, RawEnv, check_env_name
from iris_envs.config.values import (
    ENV_FIELDS,
    ENV_NAME,
    IMAGE,
    MATRIX_RESERVED,
    MAX_GENERATED_ENVS,
    PLACEHOLDER,
)


def expand_matrices(matrices: Any, ctx: Context) -> list[RawEnv]:
    """Expand ``[matrix.<prefix>]`` tables: list-valued factors -> one env per combination.

    A key that is not an environment field (e.g. ``version``), or a single-valued field given
    an array (e.g. ``edition = ["community", "enterprise"]``), is a factor. Names are the
    prefix and the factor values joined by '-', in the order the factors are written.
    ``{factor}`` in any string is replaced by the factor's value.
    """
    if not isinstance(matrices, dict):
        ctx.fail(("matrix",), "must be a table of matrices, e.g. [matrix.iris]", value=matrices)
    result: list[RawEnv] = []
    seen: set[str] = set()  # a set, not a scan of `result`: generating stays linear
    combinations = 0
    for prefix, body in matrices.items():
        path: Path_ = ("matrix", prefix)
        check_env_name(ctx, path, prefix)
        if not isinstance(body, dict):
            ctx.fail(path, "must be a table of factors and environment fields", value=body)
        factors, fields = _split_matrix(ctx, path, body)
        excludes = _parse_excludes(body.get("exclude", []), ctx, path, factors)
        names = list(factors)
        combinations += math.prod(len(values) for values in factors.values())
        if combinations > MAX_GENERATED_ENVS:
            # Counted before expanding: 2^20 combinations took minutes just to generate.
            sizes = " x ".join(str(len(values)) for values in factors.values())
            ctx.fail(
                path,
                f"the matrices would generate {combinations:,} environments (this one: {sizes} "
                f"combinations, before excludes); at most {MAX_GENERATED_ENVS:,} are allowed",
                allowed="fewer factor values, or split the project",
            )
        for combo in itertools.product(*(factors[n] for n in names)):
            chosen = dict(zip(names, combo, strict=True))
            if any(all(chosen.get(k) == v for k, v in ex.items()) for ex in excludes):
                continue
            parts = [prefix, *combo]
            if any(n == "image" for n in names):
                # An image factor is too long for a name; keep only its tag (after the last ':').
                parts = [
                    prefix,
                    *(c.rsplit(":", 1)[-1] if n == "image" else c for n, c in chosen.items()),
                ]
            name = "-".join(parts)
            check_env_name(ctx, path, name)
            if name in seen:
                ctx.fail(path, f"two combinations both produce the environment name {name!r}")
            seen.add(name)
            raw = RawEnv(name, note=f"generating environment {name!r} from matrix {prefix!r}")
            for key, value in fields.items():
                raw.fields[key] = Field(_substitute(value, chosen), (*path, key), True)
            for key, value in chosen.items():
                if key in ENV_FIELDS:
                    raw.fields[key] = Field(value, (*path, key), True)
            result.append(raw)
    return result


def _split_matrix(
    ctx: Context, path: Path_, body: dict[str, Any]
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Separate a matrix table into factors (name -> values) and plain environment fields."""
    factors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    for key, value in body.items():
        if key in MATRIX_RESERVED:
            continue
        list_fields = ("setup", "tags")
        is_factor = key not in ENV_FIELDS or (isinstance(value, list) and key not in list_fields)
        if not is_factor:
            fields[key] = value
            continue
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
        ):
            ctx.fail(
                (*path, key),
                "a factor must be a non-empty array of strings or numbers",
                value=value,
                allowed="a factor array, or one of the environment fields " + ", ".join(ENV_FIELDS),
            )
        values = [str(v) for v in value]
        for i, v in enumerate(values, 1):
            if not ENV_NAME.fullmatch(v) and not (key == "image" and IMAGE.fullmatch(v)):
                ctx.fail(
                    (*path, key, i),
                    "factor values become part of environment names",
                    value=v,
                    allowed="letters, digits, '.', '_', '-'",
                )
        if len(set(values)) != len(values):
            ctx.fail((*path, key), "factor values must be unique", value=value)
        factors[key] = values
    return factors, fields


def _parse_excludes(
    value: Any, ctx: Context, path: Path_, factors: dict[str, list[str]]
) -> list[dict[str, str]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        ctx.fail((*path, "exclude"), "must be an array of tables of factor values", value=value)
    out: list[dict[str, str]] = []
    for i, entry in enumerate(value, 1):
        cleaned: dict[str, str] = {}
        for key, v in entry.items():
            if key not in factors:
                ctx.unknown_key((*path, "exclude", i), key, tuple(factors))
            if str(v) not in factors[key] or isinstance(v, bool | dict | list):
                ctx.fail(
                    (*path, "exclude", i, key),
                    "not a value of this factor",
                    value=v,
                    allowed=", ".join(factors[key]),
                )
            cleaned[key] = str(v)
        out.append(cleaned)
    return out


def _substitute(value: Any, factors: Mapping[str, str]) -> Any:
    """Replace ``{factor}`` in strings (recursively); other braces, e.g. ``${HOME}``, stay."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: factors.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(v, factors) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, factors) for k, v in value.items()}
    return value
