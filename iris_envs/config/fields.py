"""Environment fields (image, edition, license, namespace, ...) validated into an EnvSpec."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iris_envs.config.context import Context, Field, Path_, project_path
from iris_envs.config.spec import DEFAULT_NAMESPACE, Edition, EnvSpec, LicenseRef
from iris_envs.config.steps import check_dat_databases, parse_setup
from iris_envs.config.values import (
    ENV_FIELDS,
    ENV_VAR,
    IMAGE,
    MAX_CLONES,
    MONITOR_INTERVAL_RANGE,
    MONITOR_MODES,
    NAMESPACE,
    PLATFORM,
    TAG,
    USERNAME,
    control_character,
    parse_size,
    spares_count,
)
from iris_envs.errors import ConfigError


def _string(ctx: Context, f: Field, name: str, pattern: re.Pattern[str] | None = None) -> str:
    if (
        not isinstance(f.value, str)
        or not f.value
        or (pattern is not None and not pattern.fullmatch(f.value))
    ):
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS[name])
    return f.value


def resolve_env(name: str, fields: dict[str, Field], ctx: Context) -> EnvSpec:
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
    check_dat_databases(ctx, name, spec)
    return spec


_Handler = Callable[[Context, str, Field, dict[str, Any]], None]


def _simple(key: str, pattern: re.Pattern[str] | None = None, upper: bool = False) -> _Handler:
    def handle(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
        value = _string(ctx, f, key, pattern)
        out[key] = value.upper() if upper else value

    return handle


def _edition(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    if not isinstance(f.value, str) or f.value not in {e.value for e in Edition}:
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS["edition"])
    out["edition"] = Edition(f.value)


def _license_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
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


def _password_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    out["password"] = _password(ctx, f)


def _setup_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    out["setup"] = parse_setup(ctx, f)


def _cpf_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    out["cpf_merge"] = project_path(ctx, f.path, _string(ctx, f, "cpf_merge"), "file")


def _description_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    if not isinstance(f.value, str):
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS["description"])
    out["description"] = f.value


def _tags_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    if not isinstance(f.value, list):
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS["tags"])
    for i, tag in enumerate(f.value, 1):
        if not isinstance(tag, str) or not TAG.fullmatch(tag):
            ctx.fail((*f.path, i), "invalid tag", value=tag, allowed=ENV_FIELDS["tags"])
    out["tags"] = tuple(dict.fromkeys(f.value))


def _labels_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    if not isinstance(f.value, dict):
        ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS["labels"])
    for key, value in f.value.items():
        if not isinstance(value, str):
            ctx.fail((*f.path, key), "label values must be strings", value=value)
    out["labels"] = tuple(sorted(f.value.items()))


def _timeout_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    value = f.value
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not 0 < value < float("inf"):
        ctx.fail(f.path, "invalid value", value=value, allowed=ENV_FIELDS["ready_timeout"])
    out["ready_timeout"] = float(value)


def _spares_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    value = f.value
    # An int in TOML: a string of digits is the variable's and the option's form, not this one.
    count = spares_count(value) if isinstance(value, int) else None
    if count is None:
        ctx.fail(f.path, "invalid value", value=value, allowed=ENV_FIELDS["spares"])
    out["spares"] = count


def _spare_age_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    value = f.value
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not 0 < value < float("inf"):
        ctx.fail(f.path, "invalid value", value=value, allowed=ENV_FIELDS["spare_max_age"])
    out["spare_max_age"] = float(value) * 3600


def _clones_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    value = f.value
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CLONES:
        ctx.fail(f.path, "invalid value", value=value, allowed=ENV_FIELDS["clones"])
    out["clones"] = value


def _monitor_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    value = f.value
    mode = MONITOR_MODES.get(value) if isinstance(value, bool | str) else None
    if mode is None:
        ctx.fail(f.path, "invalid value", value=value, allowed=ENV_FIELDS["monitor"])
    out["monitor"] = mode


def _monitor_interval_field(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
    value, (low, high) = f.value, MONITOR_INTERVAL_RANGE
    valid = isinstance(value, int | float) and not isinstance(value, bool)
    if not valid or not low <= value <= high:
        ctx.fail(f.path, "invalid value", value=value, allowed=ENV_FIELDS["monitor_interval"])
    out["monitor_interval"] = float(value)


def _size_field(key: str) -> _Handler:
    def handle(ctx: Context, name: str, f: Field, out: dict[str, Any]) -> None:
        try:
            if not isinstance(f.value, str):
                raise ConfigError("not a string")
            out[key] = parse_size(f.value, key)
        except ConfigError:
            ctx.fail(f.path, "invalid value", value=f.value, allowed=ENV_FIELDS[key])

    return handle


_FIELD_HANDLERS: dict[str, _Handler] = {
    "image": _simple("image", IMAGE),
    "edition": _edition,
    "license": _license_field,
    "namespace": _simple("namespace", NAMESPACE, upper=True),
    "username": _simple("username", USERNAME),
    "password": _password_field,
    "setup": _setup_field,
    "cpf_merge": _cpf_field,
    "description": _description_field,
    "tags": _tags_field,
    "labels": _labels_field,
    "platform": _simple("platform", PLATFORM),
    "ready_timeout": _timeout_field,
    "spares": _spares_field,
    "spare_max_age": _spare_age_field,
    "clones": _clones_field,
    "monitor": _monitor_field,
    "monitor_interval": _monitor_interval_field,
    "monitor_min_free_memory": _size_field("monitor_min_free_memory"),
    "monitor_min_free_disk": _size_field("monitor_min_free_disk"),
}
assert set(_FIELD_HANDLERS) == set(ENV_FIELDS)


def _env_var(ctx: Context, path: Path_, name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        ctx.fail(
            path, f"{what} reads ${name}, which is not set (or empty)", allowed=f"export {name}=..."
        )
    return value


def _password(ctx: Context, f: Field) -> str:
    if not isinstance(f.value, str) or not f.value:
        # Never echo the value: it may be a real secret.
        ctx.fail(f.path, "invalid value (value not shown)", allowed=ENV_FIELDS["password"])
    match = ENV_VAR.fullmatch(f.value)
    if match:
        value = _env_var(ctx, f.path, match.group(1), "the password")
        where = control_character(value)
        if where is not None:  # refused as in the file (context.check_printable), unquoted
            ctx.fail(
                f.path,
                f"the password read from ${match.group(1)} contains a control character "
                f"({where}; value not shown)",
                allowed="printable text: no NUL, newline, tab or escape characters",
            )
        return value
    if f.value.startswith("$$"):
        return f.value[1:]  # "$$..." is the escape for a literal password starting with "$"
    return f.value


def _license(ctx: Context, f: Field) -> LicenseRef:
    source = _string(ctx, f, "license")
    match = ENV_VAR.fullmatch(source)
    if match:
        # Unset variable: keep the reference unresolved; the runner reports it when mounting,
        # so machines that never run this environment can still list and key the project.
        raw = os.environ.get(match.group(1))
        if not raw:
            return LicenseRef(source=source, path=Path(source))
    else:
        raw = source
    where = control_character(raw)
    if where is not None:
        ctx.fail(f.path, f"the license path contains a control character ({where})")
    # The license is mounted at run time, never copied into a snapshot, so it may live
    # outside the project (e.g. ~/iris.key); existence is checked when it is mounted.
    try:
        path = Path(raw).expanduser()
    except RuntimeError:  # "~user" with an unknown user
        path = Path(raw)
    return LicenseRef(source=source, path=path if path.is_absolute() else ctx.root / path)
