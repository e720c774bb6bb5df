"""Find and read the configuration (pyproject.toml or iris-envs.toml) into a validated Project."""

from __future__ import annotations

import dataclasses
import difflib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iris_envs import naming
from iris_envs.bounded import nesting_depth
from iris_envs.config.context import (
    Context,
    Field,
    InputProblem,
    Path_,
    RawEnv,
    check_env_name,
    check_printable,
    show,
)
from iris_envs.config.fields import resolve_env
from iris_envs.config.locate import decode_error_line, file_where
from iris_envs.config.matrix import expand_matrices
from iris_envs.config.spec import (
    DEFAULT_ENV_NAME,
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    DEFAULT_USERNAME,
    CacheSettings,
    EnvSpec,
    Project,
)
from iris_envs.config.values import ENV_FIELDS, TOP_LEVEL_KEYS
from iris_envs.errors import ConfigError, Where

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    # mypy targets 3.10 but the dev venv may lack tomli: the ignore keeps both settings clean.
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

CONFIG_FILE_NAME = "iris-envs.toml"
PYPROJECT_NAME = "pyproject.toml"
TOOL_TABLE = "iris-envs"  # [tool.iris-envs] in pyproject.toml


# A configuration of a thousand environments is ~100 kB; a file this large is not one.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
# The deepest table a configuration needs is ~6 levels (tool.iris-envs.env.X.setup[1]);
# tomllib recurses per level and raised RecursionError (a traceback) on `a = [[[[...`.
MAX_CONFIG_DEPTH = 32


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: {size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a configuration "
                "may have",
                hint="is this the right file? A configuration is a few kilobytes",
            )
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read configuration: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    data: dict[str, Any] | None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # The message carries "(at line L, column C)".
        line = decode_error_line(str(error))
        raise ConfigError(f"{path}: invalid TOML: {error}", where=file_where(path, line)) from None
    except RecursionError:
        data = None  # reported below, once the stack has unwound
    if data is None or nesting_depth(data, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH:
        raise ConfigError(
            f"{path}: arrays or tables nested more than {MAX_CONFIG_DEPTH} levels deep",
            hint="a configuration nests a few levels: check for unbalanced brackets",
        )
    return data


def _pyproject_table(path: Path, data: Mapping[str, Any]) -> Any:
    tool = data.get("tool")
    if not isinstance(tool, dict):
        return None
    return tool.get(TOOL_TABLE)


def find_config(cwd: Path) -> Path | None:
    """Walk up from ``cwd``; in each folder iris-envs.toml wins over pyproject.toml's table."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / CONFIG_FILE_NAME
        if candidate.is_file():
            return candidate
        pyproject = folder / PYPROJECT_NAME
        if pyproject.is_file() and _pyproject_table(pyproject, _read_toml(pyproject)) is not None:
            return pyproject
    return None


def load_project(config_file: Path | None = None, cwd: Path | None = None) -> Project:
    """Load the project: the given file, else the nearest one above ``cwd``, else zero config."""
    cwd = (cwd or Path.cwd()).absolute()
    if config_file is not None:
        path = (cwd / config_file).absolute()
        if not path.is_file():
            raise ConfigError(
                f"configuration file not found: {path}",
                hint=f"pass an existing {CONFIG_FILE_NAME} or {PYPROJECT_NAME} to -c/--config",
            )
    else:
        found = find_config(cwd)
        if found is None:
            return zero_config_project(cwd)
        path = found
    data = _read_toml(path)
    if path.name == PYPROJECT_NAME:
        table = _pyproject_table(path, data)
        prefix = f"tool.{TOOL_TABLE}"
        if table is None:
            raise ConfigError(
                f"{path}: no [{prefix}] table", hint="add one, or omit -c", where=Where(path)
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {prefix}: must be a table (got {show(table)})")
    else:
        table, prefix = data, ""
    return parse_project(table, Context(path, prefix, path.parent))


def zero_config_project(root: Path) -> Project:
    """The project used when no configuration exists: one community environment ``default``."""
    from iris_envs.config.secrets import default_password

    spec = EnvSpec(
        name=DEFAULT_ENV_NAME,
        image=DEFAULT_IMAGE,
        namespace=DEFAULT_NAMESPACE,
        username=DEFAULT_USERNAME,
        password=default_password(),
        password_generated=True,
        project_root=root,
        config_file=None,
    )
    return Project(root=root, config_file=None, envs={spec.name: spec}, default=(spec.name,))


def parse_project(table: Mapping[str, Any], ctx: Context) -> Project:
    """Validate a parsed iris-envs table and resolve every environment."""
    check_printable(ctx, table)
    for key in table:
        if key not in TOP_LEVEL_KEYS:
            ctx.unknown_key((), key, TOP_LEVEL_KEYS)

    defaults = table.get("defaults", {})
    if not isinstance(defaults, dict):
        ctx.fail(("defaults",), "must be a table of environment fields", value=defaults)
    for key in defaults:
        if key not in ENV_FIELDS:
            ctx.unknown_key(("defaults",), key, tuple(ENV_FIELDS))

    raw_envs: dict[str, RawEnv] = {}
    for key in table:  # document order decides whether matrix or env entries come first
        if key == "matrix":
            generated = expand_matrices(table["matrix"], ctx)
            if not generated and table["matrix"]:
                # Silently falling back to the zero-config `default` env would run the tests
                # against an image nobody asked for.
                ctx.fail(
                    ("matrix",),
                    "every combination is excluded: the matrix generates no environment",
                    allowed="remove an `exclude` entry or add a factor value",
                )
            for raw in generated:
                raw_envs[raw.name] = raw
        elif key == "env":
            _collect_envs(table["env"], ctx, raw_envs)
    _check_distinct_repositories(ctx, raw_envs)
    if not raw_envs:
        # Only shared defaults (or nothing): the zero-config environment, customised.
        raw_envs[DEFAULT_ENV_NAME] = RawEnv(DEFAULT_ENV_NAME)

    envs = {name: _resolve(raw, defaults, ctx) for name, raw in raw_envs.items()}
    default = _parse_default(table, ctx, envs)
    cache = _parse_cache(table.get("cache", {}), ctx)
    return Project(root=ctx.root, config_file=ctx.file, envs=envs, default=default, cache=cache)


def _resolve(raw: RawEnv, defaults: Mapping[str, Any], ctx: Context) -> EnvSpec:
    """One environment: its own fields over the shared defaults."""
    merged = {k: Field(v, ("defaults", k), True) for k, v in defaults.items()}
    merged.update(raw.fields)
    env_ctx = Context(ctx.file, ctx.prefix, ctx.root, raw.note)
    try:
        return resolve_env(raw.name, merged, env_ctx)
    except InputProblem as problem:
        # A missing setup file of one environment must not stop the others (issue 22, item
        # 14): resolve it without looking at its files and keep the problem, which is
        # reported when the environment is selected; `list` shows it.
        env_ctx.check_inputs = False
        spec = resolve_env(raw.name, merged, env_ctx)
        return dataclasses.replace(spec, problem=problem.message, problem_where=problem.where)


CACHE_KEYS = ("registry", "max-size")


def _parse_cache(value: Any, ctx: Context) -> CacheSettings:
    """``[cache]``: ``registry = "host[:port][/path]"``, ``max-size = "20GB"`` (no credentials)."""
    from iris_envs.config.values import check_registry, parse_size

    if not isinstance(value, dict):
        ctx.fail(("cache",), "must be a table", value=value)
    for key in value:
        if key not in CACHE_KEYS:
            ctx.unknown_key(("cache",), key, CACHE_KEYS)
    settings: dict[str, Any] = {}
    for key, parse in (("registry", check_registry), ("max-size", parse_size)):
        if key in value:
            raw = value[key]
            try:
                if not isinstance(raw, str):
                    raise ConfigError("not a string")
                settings[key.replace("-", "_")] = parse(raw, key)
            except ConfigError as error:
                ctx.fail(("cache", key), f"invalid value ({error.message})", value=raw)
    return CacheSettings(**settings)


def _parse_default(
    table: Mapping[str, Any], ctx: Context, envs: dict[str, EnvSpec]
) -> tuple[str, ...]:
    if "default" not in table:
        return tuple(envs)
    value = table["default"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        ctx.fail(("default",), "must be an array of environment names", value=value)
    if not value:
        ctx.fail(
            ("default",),
            "is empty; it would select nothing",
            value=value,
            allowed="at least one environment name (omit `default` to select all)",
        )
    for i, name in enumerate(value, 1):
        if name not in envs:
            close = difflib.get_close_matches(name, list(envs), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            ctx.fail(
                ("default", i),
                "names no environment" + hint,
                value=name,
                allowed=", ".join(envs),
            )
    return tuple(dict.fromkeys(value))


def _check_distinct_repositories(ctx: Context, envs: Mapping[str, RawEnv]) -> None:
    """Names that differ only in case (or in characters Docker does not allow) would share
    one snapshot repository, and so each other's snapshots and containers."""
    seen: dict[str, str] = {}
    for name in envs:
        check_env_name(ctx, ("env", name), name)  # matrix-generated names included
        repository = naming.project_repository(ctx.root, name)
        if repository in seen:
            ctx.fail(
                ("env", name),
                f"clashes with environment {seen[repository]!r}: both would use the Docker "
                f"repository {repository} (Docker names are lower-case)",
                value=name,
                allowed="names that differ in more than letter case",
            )
        seen[repository] = name


def _collect_envs(envs: Any, ctx: Context, out: dict[str, RawEnv]) -> None:
    if not isinstance(envs, dict):
        ctx.fail(("env",), "must be a table of environments, e.g. [env.app]", value=envs)
    for name, body in envs.items():
        path: Path_ = ("env", name)
        check_env_name(ctx, path, name)
        if not isinstance(body, dict):
            ctx.fail(path, "must be a table of environment fields", value=body)
        raw = out.get(name) or RawEnv(name)  # an explicit table refines a generated env
        for key, value in body.items():
            if key not in ENV_FIELDS and isinstance(value, dict):
                # [env.iris-2025.1] is TOML for env -> "iris-2025" -> "1": a classic trap.
                dotted = ".".join(str(p) for p in (*path[1:], key))
                ctx.fail(
                    (*path, key),
                    "not an environment field; a name containing dots must be quoted",
                    allowed=f'[env."{dotted}"] (or [tool.iris-envs.env."{dotted}"])',
                )
            if key not in ENV_FIELDS:
                ctx.unknown_key(path, key, tuple(ENV_FIELDS))
            raw.fields[key] = Field(value, (*path, key))
        out[name] = raw
