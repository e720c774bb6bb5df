"""The `setup` array: each step table validated into a SetupStep (kind, source, options)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from iris_envs.config.context import Context, Field, InputProblem, Path_, project_path
from iris_envs.config.locate import key_of
from iris_envs.config.spec import EnvSpec, SetupStep, StepKind
from iris_envs.config.values import (
    DATABASE,
    ENV_FIELDS,
    IPM_MODULE,
    LOAD_FLAGS,
    NAMESPACE,
    STEP_COMMON_KEYS,
    STEP_KINDS,
    STEP_OPTIONS,
    WORD,
)


def check_dat_databases(ctx: Context, name: str, spec: EnvSpec) -> None:
    """A `dat` database must not land in the directory of the namespace's own database.

    iris-envs creates a namespace that is not USER or %SYS with a database of the same name in
    mgr/<namespace>/ (recipes.create_namespace), and a `dat` step copies into
    mgr/<database>/: the same directory would overwrite the mounted IRIS.DAT.
    """
    from iris_envs.config.databases import BUILTIN_NAMESPACES, SYSTEM_DATABASES, database_name

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
        if ctx.check_inputs:  # reads the merge file
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


def _check_not_merged(ctx: Context, name: str, spec: EnvSpec, step: SetupStep) -> None:
    """A `dat` database must not also be defined by the CPF merge file: the instance would open
    mgr/<database>/ at start, while the step's copy is being written there (it is copied while
    IRIS starts), and the step would then copy over a mounted database."""
    from iris_envs.config.databases import dat_directory, database_name, merged_clash

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
            error=InputProblem,
        )


_FILE_KINDS = {
    StepKind.OBJECTSCRIPT: "file",
    StepKind.LOAD: "any",
    StepKind.SQL: "file",
    StepKind.GLOBALS: "file",
    StepKind.DAT: "dir",
}


def parse_setup(ctx: Context, f: Field) -> tuple[SetupStep, ...]:
    if not isinstance(f.value, list):
        ctx.fail(f.path, "must be an array of step tables", value=f.value, allowed=_STEP_HELP)
    return tuple(_step(ctx, (*f.path, i), raw, i) for i, raw in enumerate(f.value, 1))


_STEP_HELP = "tables with exactly one of " + ", ".join(STEP_KINDS) + ', e.g. {sql = "schema.sql"}'


def _step_source(ctx: Context, path: Path_, kind: StepKind, source: Any) -> Path | None:
    """Validate a step's main value; file and directory steps resolve to a host path."""
    if not isinstance(source, str) or not source.strip():
        ctx.fail(path, "must be a non-empty string", value=source)
    if kind is StepKind.IPM and not IPM_MODULE.fullmatch(source):
        ctx.fail(path, "invalid IPM module name", value=source, allowed="letters, digits, . _ -")
    if kind not in _FILE_KINDS:
        return None
    host_path = project_path(ctx, path, source, _FILE_KINDS[kind])
    if kind is StepKind.DAT and ctx.check_inputs and not (host_path / "IRIS.DAT").is_file():
        ctx.fail(
            path,
            f"no IRIS.DAT in {host_path}",
            value=source,
            allowed="a directory holding an IRIS.DAT",
            error=InputProblem,
        )
    return host_path


def _step(ctx: Context, path: Path_, raw: Any, index: int) -> SetupStep:
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
        if not isinstance(value, str) or not NAMESPACE.fullmatch(value):
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
        key=key_of(ctx.prefix, path),
    )


def _step_option(ctx: Context, path: Path_, kind: StepKind, name: str, value: Any) -> str:
    if name == "recurse":
        if isinstance(value, bool):
            return "1" if value else "0"
        if value in ("0", "1"):
            return str(value)
        ctx.fail(path, "invalid value", value=value, allowed="true or false")
    rules: dict[str, tuple[re.Pattern[str], str]] = {
        "flags": (LOAD_FLAGS, "$SYSTEM.OBJ qualifiers such as 'ck' or '/compile/keepsource'"),
        "dialect": (WORD, "an ImportDDL dialect such as 'IRIS', 'MSSQL', 'Oracle'"),
        "database": (DATABASE, "a database name: a letter, then letters, digits, '-' or '_'"),
        "version": (
            re.compile(r"[A-Za-z0-9.+~^<>=*-]+"),
            "an IPM version or range, e.g. '1.2.3'",
        ),
        "user": (re.compile(r"irisowner|root"), "'irisowner' or 'root'"),
        "mount": (
            re.compile(r"namespace|database|globals:%?[A-Za-z][A-Za-z0-9.]*\*?"),
            "'namespace' (its data globals and class packages are mapped into the namespace), "
            "'database' (only "
            "mounted) or 'globals:PATTERN' (a global mapping, e.g. 'globals:Orders*')",
        ),
    }
    pattern, allowed = rules[name]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        ctx.fail(path, f"invalid {kind.value} option", value=value, allowed=allowed)
    return value.upper() if name == "database" else value
