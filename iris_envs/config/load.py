"""Find and read the configuration (pyproject.toml or iris-envs.toml) into a validated Project."""

from __future__ import annotations

import difflib
import itertools
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from iris_envs import naming
from iris_envs.config.spec import (
    DEFAULT_ENV_NAME,
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    DEFAULT_USERNAME,
    CacheSettings,
    Edition,
    EnvSpec,
    LicenseRef,
    Project,
    SetupStep,
    StepKind,
)
from iris_envs.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    # mypy targets 3.10 but the dev venv may lack tomli: the ignore keeps both settings clean.
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

CONFIG_FILE_NAME = "iris-envs.toml"
PYPROJECT_NAME = "pyproject.toml"
TOOL_TABLE = "iris-envs"  # [tool.iris-envs] in pyproject.toml

# Top-level keys of the iris-envs table.
TOP_LEVEL_KEYS = ("default", "defaults", "env", "matrix", "cache")

# Every per-environment field, with what is allowed (used in error messages and the schema).
ENV_FIELDS: dict[str, str] = {
    "image": "a Docker image reference, e.g. 'intersystemsdc/iris-community:2025.1'",
    "edition": "'community' or 'enterprise'",
    "license": "a license key file path or '$ENV_VAR' naming one (enterprise only)",
    "namespace": "an IRIS namespace name: a letter (or %) then letters, digits, '-' or '_'",
    "username": "a user name of letters, digits and . _ @ % - (at most 160 characters)",
    "password": "a non-empty string, or '$ENV_VAR' to read it from the environment",
    "setup": "an array of setup step tables",
    "cpf_merge": "a CPF merge file path inside the project",
    "description": "a string",
    "tags": "an array of tag names (letters, digits, '.', '_', '-')",
    "labels": "a table of string values",
    "platform": "an OS/architecture such as 'linux/amd64' or 'linux/arm64'",
    "ready_timeout": "a positive number of seconds",
    "spares": "a whole number of warm spare containers to keep, 0 to 8",
    "spare_max_age": "a positive number of hours after which an unused spare is removed",
}

# Setup step kinds, each with its options and their defaults (None: no default, may be omitted).
STEP_OPTIONS: dict[StepKind, dict[str, str | None]] = {
    StepKind.OBJECTSCRIPT: {},
    StepKind.LOAD: {"flags": "ck", "recurse": "1"},
    StepKind.SQL: {"dialect": "IRIS"},
    StepKind.GLOBALS: {},
    # database default: the directory's name, upper-cased; mount: how the namespace uses it
    StepKind.DAT: {"database": None, "mount": "namespace"},
    StepKind.IPM: {"version": None},
    StepKind.SHELL: {"user": "irisowner"},
}
STEP_KINDS = tuple(kind.value for kind in StepKind)
STEP_COMMON_KEYS = ("namespace",)

MATRIX_RESERVED = ("exclude",)

_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Docker allows 128 characters in a tag and the names built from an env name add up to ~40 more
# (`iris-envs-build-<env>-<run id>`); 64 leaves room and is plenty for a name a person types.
MAX_ENV_NAME = 64
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Docker's reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest], path
# components lower-case alphanumerics separated by ".", "_", "__" or dashes; tags of at most
# 128 word characters, "." and "-". An image Docker would reject fails here with exit 2.
_IMAGE = re.compile(
    # a registry host: has a dot or a port, or is localhost (else it is a lower-case path)
    r"^(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
    r"(?::[0-9]+)?|localhost(?::[0-9]+)?|[A-Za-z0-9-]+:[0-9]+)/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_NAMESPACE = re.compile(r"^%?[A-Za-z][A-Za-z0-9_-]{0,63}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@%-]{1,160}$")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")
_DATABASE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_IPM_MODULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LOAD_FLAGS = re.compile(r"^[A-Za-z0-9/=,+-]*$")
_WORD = re.compile(r"^[A-Za-z0-9]+$")
_ENV_VAR = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

Path_ = tuple[str | int, ...]  # a TOML key path, e.g. ("env", "app", "setup", 1, "sql")


def format_key_path(prefix: str, path: Path_) -> str:
    """Render a key path the way TOML writes it: ``tool.iris-envs.env."iris-2025.1".setup[1]``.

    Array indexes are 1-based, the same numbers ``explain`` and step descriptions print.
    """
    out = prefix
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if _BARE_KEY.match(part) else '"' + part.replace('"', '\\"') + '"'
            out = f"{out}.{text}" if out else text
    return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class _Context:
    """Where values come from, so every error can name the file and the key path."""

    file: Path
    prefix: str  # "tool.iris-envs" in pyproject.toml, "" in iris-envs.toml
    root: Path
    note: str = ""  # extra context, e.g. which generated environment was being built

    def fail(
        self, path: Path_, problem: str, *, value: Any = None, allowed: str | None = None
    ) -> NoReturn:
        where = format_key_path(self.prefix, path) or "(top level)"
        message = f"{self.file}: {where}: {problem}"
        if value is not None:
            message += f" (got {_show(value)})"
        if allowed:
            message += f"; allowed: {allowed}"
        if self.note:
            message += f" [{self.note}]"
        raise ConfigError(message)

    def unknown_key(self, path: Path_, key: str, known: Sequence[str]) -> NoReturn:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.fail((*path, key), "unknown key" + hint, allowed=", ".join(known))


# ----------------------------------------------------------------------------- discovery


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read configuration: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # The message carries "(at line L, column C)".
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
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
            raise ConfigError(f"{path}: no [{prefix}] table", hint="add one, or omit -c")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {prefix}: must be a table (got {_show(table)})")
    else:
        table, prefix = data, ""
    return parse_project(table, _Context(path, prefix, path.parent))


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


# ----------------------------------------------------------------------------- parsing


@dataclass
class _Field:
    """One raw field value and the key path it came from (defaults, matrix or env table)."""

    value: Any
    path: Path_
    from_shared: bool = False  # came from [defaults] or a [matrix] table


@dataclass
class _RawEnv:
    name: str
    fields: dict[str, _Field] = field(default_factory=dict)
    note: str = ""


def parse_project(table: Mapping[str, Any], ctx: _Context) -> Project:
    """Validate a parsed iris-envs table and resolve every environment."""
    for key in table:
        if key not in TOP_LEVEL_KEYS:
            ctx.unknown_key((), key, TOP_LEVEL_KEYS)

    defaults = table.get("defaults", {})
    if not isinstance(defaults, dict):
        ctx.fail(("defaults",), "must be a table of environment fields", value=defaults)
    for key in defaults:
        if key not in ENV_FIELDS:
            ctx.unknown_key(("defaults",), key, tuple(ENV_FIELDS))

    raw_envs: dict[str, _RawEnv] = {}
    for key in table:  # document order decides whether matrix or env entries come first
        if key == "matrix":
            generated = _expand_matrices(table["matrix"], ctx)
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
        raw_envs[DEFAULT_ENV_NAME] = _RawEnv(DEFAULT_ENV_NAME)

    envs: dict[str, EnvSpec] = {}
    for name, raw in raw_envs.items():
        merged = {k: _Field(v, ("defaults", k), True) for k, v in defaults.items()}
        merged.update(raw.fields)
        env_ctx = _Context(ctx.file, ctx.prefix, ctx.root, raw.note)
        envs[name] = _resolve_env(name, merged, env_ctx)

    default = _parse_default(table, ctx, envs)
    cache = _parse_cache(table.get("cache", {}), ctx)
    return Project(root=ctx.root, config_file=ctx.file, envs=envs, default=default, cache=cache)


CACHE_KEYS = ("registry", "max-size")


def _parse_cache(value: Any, ctx: _Context) -> CacheSettings:
    """``[cache]``: ``registry = "host[:port][/path]"``, ``max-size = "20GB"`` (no credentials)."""
    from iris_envs.cache.prune import parse_size
    from iris_envs.share.registry import check_registry

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
    table: Mapping[str, Any], ctx: _Context, envs: dict[str, EnvSpec]
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


def _check_env_name(ctx: _Context, path: Path_, name: str) -> None:
    if not _ENV_NAME.match(name) or len(name) > MAX_ENV_NAME:
        ctx.fail(
            path,
            "invalid environment name",
            value=name,
            allowed="a letter or digit, then letters, digits, '.', '_' or '-' (no commas), "
            f"at most {MAX_ENV_NAME} characters",
        )


def _check_distinct_repositories(ctx: _Context, envs: Mapping[str, _RawEnv]) -> None:
    """Names that differ only in case (or in characters Docker does not allow) would share
    one snapshot repository, and so each other's snapshots and containers."""
    seen: dict[str, str] = {}
    for name in envs:
        _check_env_name(ctx, ("env", name), name)  # matrix-generated names included
        repository = naming.snapshot_repository(name)
        if repository in seen:
            ctx.fail(
                ("env", name),
                f"clashes with environment {seen[repository]!r}: both would use the Docker "
                f"repository {repository} (Docker names are lower-case)",
                value=name,
                allowed="names that differ in more than letter case",
            )
        seen[repository] = name


def _collect_envs(envs: Any, ctx: _Context, out: dict[str, _RawEnv]) -> None:
    if not isinstance(envs, dict):
        ctx.fail(("env",), "must be a table of environments, e.g. [env.app]", value=envs)
    for name, body in envs.items():
        path: Path_ = ("env", name)
        _check_env_name(ctx, path, name)
        if not isinstance(body, dict):
            ctx.fail(path, "must be a table of environment fields", value=body)
        raw = out.get(name) or _RawEnv(name)  # an explicit table refines a generated env
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
            raw.fields[key] = _Field(value, (*path, key))
        out[name] = raw


def _expand_matrices(matrices: Any, ctx: _Context) -> list[_RawEnv]:
    """Expand ``[matrix.<prefix>]`` tables: list-valued factors -> one env per combination.

    A key that is not an environment field (e.g. ``version``), or a single-valued field given
    an array (e.g. ``edition = ["community", "enterprise"]``), is a factor. Names are the
    prefix and the factor values joined by '-', in the order the factors are written.
    ``{factor}`` in any string is replaced by the factor's value.
    """
    if not isinstance(matrices, dict):
        ctx.fail(("matrix",), "must be a table of matrices, e.g. [matrix.iris]", value=matrices)
    result: list[_RawEnv] = []
    for prefix, body in matrices.items():
        path: Path_ = ("matrix", prefix)
        _check_env_name(ctx, path, prefix)
        if not isinstance(body, dict):
            ctx.fail(path, "must be a table of factors and environment fields", value=body)
        factors, fields = _split_matrix(ctx, path, body)
        excludes = _parse_excludes(body.get("exclude", []), ctx, path, factors)
        names = list(factors)
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
            _check_env_name(ctx, path, name)
            if any(r.name == name for r in result):
                ctx.fail(path, f"two combinations both produce the environment name {name!r}")
            raw = _RawEnv(name, note=f"generating environment {name!r} from matrix {prefix!r}")
            for key, value in fields.items():
                raw.fields[key] = _Field(_substitute(value, chosen), (*path, key), True)
            for key, value in chosen.items():
                if key in ENV_FIELDS:
                    raw.fields[key] = _Field(value, (*path, key), True)
            result.append(raw)
    return result


def _split_matrix(
    ctx: _Context, path: Path_, body: dict[str, Any]
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
            if not _ENV_NAME.match(v) and not (key == "image" and _IMAGE.match(v)):
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
    value: Any, ctx: _Context, path: Path_, factors: dict[str, list[str]]
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
        return _PLACEHOLDER.sub(lambda m: factors.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_substitute(v, factors) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, factors) for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------- fields


def _string(ctx: _Context, f: _Field, name: str, pattern: re.Pattern[str] | None = None) -> str:
    if (
        not isinstance(f.value, str)
        or not f.value
        or (pattern is not None and not pattern.match(f.value))
    ):
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS[name])
    return f.value


def _resolve_env(name: str, fields: dict[str, _Field], ctx: _Context) -> EnvSpec:
    from iris_envs.config.secrets import default_password

    kwargs: dict[str, Any] = {"edition": Edition.COMMUNITY, "namespace": DEFAULT_NAMESPACE}
    # ENV_FIELDS lists edition before license, which depends on it.
    for key in ENV_FIELDS:
        if key in fields:
            _FIELD_HANDLERS[key](ctx, name, fields[key], kwargs)
    if "password" not in fields:
        kwargs["password"] = default_password()
        kwargs["password_generated"] = True
    spec = EnvSpec(name=name, project_root=ctx.root, config_file=ctx.file, **kwargs)
    _check_dat_databases(ctx, name, spec)
    return spec


def _check_dat_databases(ctx: _Context, name: str, spec: EnvSpec) -> None:
    """A `dat` database must not land in the directory of the namespace's own database.

    iris-envs creates a namespace that is not USER or %SYS with a database of the same name in
    mgr/<namespace>/ (recipes.create_namespace), and a `dat` step copies into
    mgr/<database>/: the same directory would overwrite the mounted IRIS.DAT.
    """
    from iris_envs.fixtures.dat_step import database_name
    from iris_envs.instance.recipes import BUILTIN_NAMESPACES, SYSTEM_DATABASES

    for step in spec.setup:
        if step.kind is not StepKind.DAT or step.path is None:
            continue
        target = step.namespace or spec.namespace
        if target.upper() == "%SYS" and step.option("mount") != "database":
            ctx.fail(
                ("env", name, "setup", step.index, "mount"),
                "a dat database cannot be mapped into %SYS (it would replace the system "
                "namespace's globals or routines)",
                value=step.option("mount"),
                allowed='mount = "database", or a `namespace` other than %SYS for the step',
            )
        database = database_name(step)
        if database in SYSTEM_DATABASES:
            ctx.fail(
                ("env", name, "setup", step.index),
                f"the dat database {database!r} is one of the instance's own databases: "
                f"copying into mgr/{database.lower()}/ would overwrite it",
                value=database,
                allowed="another `database` name for the dat step (or rename the folder)",
            )
        _check_not_merged(ctx, name, spec, step)
        if spec.namespace.upper() in BUILTIN_NAMESPACES:
            continue
        if database.lower() == spec.namespace.lower():
            ctx.fail(
                ("env", name, "setup", step.index),
                f"the dat database {database!r} would overwrite the database iris-envs creates "
                f"for namespace {spec.namespace} (both in mgr/{database.lower()}/)",
                value=database,
                allowed="another `database` name for the dat step",
            )


def _check_not_merged(ctx: _Context, name: str, spec: EnvSpec, step: SetupStep) -> None:
    """A `dat` database must not also be defined by the CPF merge file: the instance would open
    mgr/<database>/ at start, while the step's copy is being written there (it is copied while
    IRIS starts), and the step would then copy over a mounted database."""
    from iris_envs.fixtures.dat_step import dat_directory, database_name, merged_clash

    clash = merged_clash(step, spec.cpf_merge)
    if clash is not None:
        assert spec.cpf_merge is not None
        database = database_name(step)
        ctx.fail(
            ("env", name, "setup", step.index),
            f"the dat database {database!r} (copied to {dat_directory(step)}/) is also defined "
            f"by the CPF merge file {spec.cpf_merge.name} (database {clash}): IRIS would open "
            "it while the copy is written",
            value=database,
            allowed="a `database` name the merge file does not define, or drop that database "
            "from the merge file (the dat step adds and mounts it)",
        )


_Handler = Callable[[_Context, str, _Field, dict[str, Any]], None]


def _simple(key: str, pattern: re.Pattern[str] | None = None, upper: bool = False) -> _Handler:
    def handle(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
        value = _string(ctx, f, key, pattern)
        out[key] = value.upper() if upper else value

    return handle


def _edition(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    if not isinstance(f.value, str) or f.value not in {e.value for e in Edition}:
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS["edition"])
    out["edition"] = Edition(f.value)


def _license_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    if out["edition"] is Edition.ENTERPRISE:
        out["license"] = _license(ctx, f)
    elif not f.from_shared:
        # Shared defaults may name a license for the enterprise members of a matrix;
        # on one community environment it is a mistake worth reporting.
        ctx.fail(
            f.path,
            f"a license only applies to edition = 'enterprise' ({name!r} is community)",
            value=f.value,
        )


def _password_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    out["password"] = _password(ctx, f)


def _setup_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    out["setup"] = _setup(ctx, f)


def _cpf_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    out["cpf_merge"] = _project_path(ctx, f.path, _string(ctx, f, "cpf_merge"), "file")


def _description_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    if not isinstance(f.value, str):
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS["description"])
    out["description"] = f.value


def _tags_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    if not isinstance(f.value, list):
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS["tags"])
    for i, tag in enumerate(f.value, 1):
        if not isinstance(tag, str) or not _TAG.match(tag):
            ctx.fail((*f.path, i), "invalid tag", value=tag, allowed=ENV_FIELDS["tags"])
    out["tags"] = tuple(dict.fromkeys(f.value))


def _labels_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    if not isinstance(f.value, dict):
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS["labels"])
    for key, value in f.value.items():
        if not isinstance(value, str):
            ctx.fail((*f.path, key), "label values must be strings", value=value)
    out["labels"] = tuple(sorted(f.value.items()))


def _timeout_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    value = f.value
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not 0 < value < float("inf"):
        ctx.fail(f.path, "invalid value", value=value, allowed=ENV_FIELDS["ready_timeout"])
    out["ready_timeout"] = float(value)


MAX_SPARES = 8  # each spare is a running IRIS instance: memory, and community core limits


def _spares_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    value = f.value
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SPARES:
        ctx.fail(f.path, "invalid value", value=value, allowed=ENV_FIELDS["spares"])
    out["spares"] = value


def _spare_age_field(ctx: _Context, name: str, f: _Field, out: dict[str, Any]) -> None:
    value = f.value
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not 0 < value < float("inf"):
        ctx.fail(f.path, "invalid value", value=value, allowed=ENV_FIELDS["spare_max_age"])
    out["spare_max_age"] = float(value) * 3600


_FIELD_HANDLERS: dict[str, _Handler] = {
    "image": _simple("image", _IMAGE),
    "edition": _edition,
    "license": _license_field,
    "namespace": _simple("namespace", _NAMESPACE, upper=True),
    "username": _simple("username", _USERNAME),
    "password": _password_field,
    "setup": _setup_field,
    "cpf_merge": _cpf_field,
    "description": _description_field,
    "tags": _tags_field,
    "labels": _labels_field,
    "platform": _simple("platform", _PLATFORM),
    "ready_timeout": _timeout_field,
    "spares": _spares_field,
    "spare_max_age": _spare_age_field,
}
assert set(_FIELD_HANDLERS) == set(ENV_FIELDS)


def _env_var(ctx: _Context, path: Path_, name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        ctx.fail(
            path, f"{what} reads ${name}, which is not set (or empty)", allowed=f"export {name}=..."
        )
    return value


def _password(ctx: _Context, f: _Field) -> str:
    if not isinstance(f.value, str) or not f.value:
        # Never echo the value: it may be a real secret.
        ctx.fail(f.path, "invalid value (value not shown)", allowed=ENV_FIELDS["password"])
    match = _ENV_VAR.match(f.value)
    if match:
        return _env_var(ctx, f.path, match.group(1), "the password")
    if f.value.startswith("$$"):
        return f.value[1:]  # "$$..." is the escape for a literal password starting with "$"
    return f.value


def _license(ctx: _Context, f: _Field) -> LicenseRef:
    source = _string(ctx, f, "license")
    match = _ENV_VAR.match(source)
    if match:
        # Unset variable: keep the reference unresolved; the runner reports it when mounting,
        # so machines that never run this environment can still list and key the project.
        raw = os.environ.get(match.group(1))
        if not raw:
            return LicenseRef(source=source, path=Path(source))
    else:
        raw = source
    # The license is mounted at run time, never copied into a snapshot, so it may live
    # outside the project (e.g. ~/iris.key); existence is checked when it is mounted.
    try:
        path = Path(raw).expanduser()
    except RuntimeError:  # "~user" with an unknown user
        path = Path(raw)
    return LicenseRef(source=source, path=path if path.is_absolute() else ctx.root / path)


def _project_path(ctx: _Context, path: Path_, source: str, want: str) -> Path:
    """Resolve ``source`` against the project root; it must stay inside and exist."""
    try:
        candidate = Path(source)
        candidate = candidate if candidate.is_absolute() else ctx.root / candidate
        resolved = candidate.resolve()
        root = ctx.root.resolve()
        inside = resolved == root or resolved.is_relative_to(root)
        exists = resolved.exists()
        is_file, is_dir = resolved.is_file(), resolved.is_dir()
    except (OSError, ValueError, RuntimeError) as error:
        ctx.fail(path, f"unusable path ({error})", value=source)
    if not inside:
        ctx.fail(
            path,
            f"path escapes the project root {root}",
            value=source,
            allowed="paths inside the project",
        )
    if not exists:
        ctx.fail(path, f"not found: tried {candidate}", value=source)
    if want == "file" and not is_file:
        ctx.fail(path, f"not a file: {candidate}", value=source)
    if want == "dir" and not is_dir:
        ctx.fail(path, f"not a directory: {candidate}", value=source)
    return resolved


_FILE_KINDS = {
    StepKind.OBJECTSCRIPT: "file",
    StepKind.LOAD: "any",
    StepKind.SQL: "file",
    StepKind.GLOBALS: "file",
    StepKind.DAT: "dir",
}


def _setup(ctx: _Context, f: _Field) -> tuple[SetupStep, ...]:
    if not isinstance(f.value, list):
        ctx.fail(f.path, "must be an array of step tables", value=f.value, allowed=_STEP_HELP)
    return tuple(_step(ctx, (*f.path, i), raw, i) for i, raw in enumerate(f.value, 1))


_STEP_HELP = "tables with exactly one of " + ", ".join(STEP_KINDS) + ', e.g. {sql = "schema.sql"}'


def _step_source(ctx: _Context, path: Path_, kind: StepKind, source: Any) -> Path | None:
    """Validate a step's main value; file and directory steps resolve to a host path."""
    if not isinstance(source, str) or not source.strip():
        ctx.fail(path, "must be a non-empty string", value=source)
    if kind is StepKind.IPM and not _IPM_MODULE.match(source):
        ctx.fail(path, "invalid IPM module name", value=source, allowed="letters, digits, . _ -")
    if kind not in _FILE_KINDS:
        return None
    host_path = _project_path(ctx, path, source, _FILE_KINDS[kind])
    if kind is StepKind.DAT and not (host_path / "IRIS.DAT").is_file():
        ctx.fail(
            path,
            f"no IRIS.DAT in {host_path}",
            value=source,
            allowed="a directory holding an IRIS.DAT",
        )
    return host_path


def _step(ctx: _Context, path: Path_, raw: Any, index: int) -> SetupStep:
    if not isinstance(raw, dict):
        ctx.fail(path, "a setup step must be a table", value=raw, allowed=_STEP_HELP)
    kinds = [k for k in raw if k in STEP_KINDS]
    if len(kinds) != 1:
        problem = "no step kind" if not kinds else "more than one step kind: " + ", ".join(kinds)
        ctx.fail(path, problem, allowed=_STEP_HELP)
    kind = StepKind(kinds[0])
    option_names = STEP_OPTIONS[kind]
    allowed_keys = (kind.value, *STEP_COMMON_KEYS, *option_names)
    for key in raw:
        if key not in allowed_keys:
            ctx.unknown_key(path, key, allowed_keys)
    source = raw[kind.value]
    host_path = _step_source(ctx, (*path, kind.value), kind, source)
    namespace = None
    if "namespace" in raw:
        value = raw["namespace"]
        if not isinstance(value, str) or not _NAMESPACE.match(value):
            ctx.fail(
                (*path, "namespace"), "invalid value", value=value, allowed=ENV_FIELDS["namespace"]
            )
        namespace = value.upper()
    options: dict[str, str] = {}
    for name, default in option_names.items():
        value = raw.get(name, default)
        if value is None:
            if name == "database" and host_path is not None:
                options[name] = host_path.name.upper()
            continue
        options[name] = _step_option(ctx, (*path, name), kind, name, value)
    return SetupStep(
        index=index,
        kind=kind,
        source=source,
        path=host_path,
        namespace=namespace,
        options=tuple(sorted(options.items())),
    )


def _step_option(ctx: _Context, path: Path_, kind: StepKind, name: str, value: Any) -> str:
    if name == "recurse":
        if isinstance(value, bool):
            return "1" if value else "0"
        if value in ("0", "1"):
            return str(value)
        ctx.fail(path, "invalid value", value=value, allowed="true or false")
    rules: dict[str, tuple[re.Pattern[str], str]] = {
        "flags": (_LOAD_FLAGS, "$SYSTEM.OBJ qualifiers such as 'ck' or '/compile/keepsource'"),
        "dialect": (_WORD, "an ImportDDL dialect such as 'IRIS', 'MSSQL', 'Oracle'"),
        "database": (_DATABASE, "a database name: a letter, then letters, digits, '-' or '_'"),
        "version": (
            re.compile(r"^[A-Za-z0-9.+~^<>=*-]+$"),
            "an IPM version or range, e.g. '1.2.3'",
        ),
        "user": (re.compile(r"^(irisowner|root)$"), "'irisowner' or 'root'"),
        "mount": (
            re.compile(r"^(namespace|database|globals:%?[A-Za-z][A-Za-z0-9.]*\*?)$"),
            "'namespace' (its globals and routines use the database), 'database' (only "
            "mounted) or 'globals:PATTERN' (a global mapping, e.g. 'globals:Orders*')",
        ),
    }
    pattern, allowed = rules[name]
    if not isinstance(value, str) or not pattern.match(value):
        ctx.fail(path, f"invalid {kind.value} option", value=value, allowed=allowed)
    return value.upper() if name == "database" else value
