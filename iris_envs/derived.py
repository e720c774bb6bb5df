"""Derived environments: an environment's snapshot plus extra `.DAT` fixtures, as its own snapshot.

A test module that needs large data names fixture folders (``@pytest.mark.iris_fixtures``); the
data is restored once into a snapshot built FROM the environment's snapshot, so its key is the
base snapshot's image ID plus the fixtures' manifest checksums, and tests never load data.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence

from iris_envs.dat_step import database_name, merged_clash
from iris_envs.errors import ConfigError
from iris_envs.fixtures import is_fixture_folder
from iris_envs.manifest import EnvSpec, SetupStep, StepKind
from iris_envs.recipes import SYSTEM_DATABASES

MOUNT_PATTERN = re.compile(r"^(namespace|database|globals:%?[A-Za-z][A-Za-z0-9.]*\*?)$")
DATABASE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# Derived names stay valid environment (and image repository) names: <base>.fx-<digest>.
MAX_BASE_NAME = 48


def derived_name(base: str, fixtures: Sequence[str], mount: str) -> str:
    """``<base>.fx-<10 hex>``: the same fixtures and mount give the same name (and snapshot)."""
    digest = hashlib.sha256(json.dumps([sorted(fixtures), mount]).encode()).hexdigest()[:10]
    return f"{base[:MAX_BASE_NAME]}.fx-{digest}"


def fixture_steps(
    spec: EnvSpec, fixtures: Sequence[str], *, mount: str, what: str
) -> tuple[SetupStep, ...]:
    """One `dat` step per fixture folder; a path that leaves the project, is missing or is not a
    fixture folder is a ConfigError naming ``what`` (the marker) and the path."""
    if not fixtures:
        raise ConfigError(f"{what}: name at least one fixture folder")
    if not MOUNT_PATTERN.match(mount):
        raise ConfigError(
            f"{what}: mount={mount!r} is not one of 'namespace', 'database' or 'globals:PATTERN'"
        )
    root = spec.project_root.resolve()
    steps = []
    for index, source in enumerate(fixtures, start=1):
        if not isinstance(source, str) or not source:
            raise ConfigError(f"{what}: fixture {index} must be a folder path (a string)")
        path = (root / source).resolve()
        if not path.is_relative_to(root):
            raise ConfigError(
                f"{what}: fixture {source!r} resolves to {path}, outside the project {root}",
                hint="keep fixture folders inside the project (paths are relative to its root)",
            )
        if not path.is_dir() or not is_fixture_folder(path):
            raise ConfigError(
                f"{what}: {source!r} is not a fixture folder (no {path / 'manifest.json'})",
                hint="make one with `iris-envs fixture create`",
            )
        options = (("database", path.name.upper()), ("mount", mount))
        steps.append(SetupStep(index, StepKind.DAT, source, path, None, options))
    return tuple(steps)


def derive(spec: EnvSpec, base_ref: str, fixtures: Sequence[str], *, mount: str) -> EnvSpec:
    """``spec`` built on its snapshot ``base_ref`` with only the fixtures' `dat` steps: users,
    namespace and CPF merge are already in the base snapshot (the recipes are idempotent)."""
    what = f"iris_fixtures on environment {spec.name}"
    steps = fixture_steps(spec, fixtures, mount=mount, what=what)
    databases = [database_name(step) for step in steps]
    if len(set(databases)) != len(databases):
        raise ConfigError(f"{what}: two fixture folders have the same name ({databases})")
    for step, database in zip(steps, databases, strict=True):
        # The folder's name is the database's: mgr/<name>/ must be new and a valid name.
        if not DATABASE_PATTERN.match(database):
            why = "is not a database name (a letter, then letters, digits, '-' or '_')"
        elif database in SYSTEM_DATABASES:
            why = "is one of the instance's own databases"
        elif database == spec.namespace.upper():
            why = f"is the database of the namespace {spec.namespace}"
        elif database in _restored_databases(spec):
            # Its copy would land on the base snapshot's mounted database of that name.
            why = "is already restored by a `dat` step of the environment"
        elif merged_clash(step, spec.cpf_merge) is not None:
            why = "is defined by the environment's CPF merge file (mounted in its snapshot)"
        else:
            continue
        raise ConfigError(
            f"{what}: the fixture folder {step.source!r} gives the database name {database!r}, "
            f"which {why}",
            hint="rename the fixture folder (its name becomes the database's)",
        )
    return dataclasses.replace(
        spec,
        name=derived_name(spec.name, fixtures, mount),
        image=base_ref,
        setup=steps,
        cpf_merge=None,
        description=f"{spec.name} with fixtures {', '.join(fixtures)}",
    )


def _restored_databases(spec: EnvSpec) -> set[str]:
    """The databases the environment's own `dat` steps put in its snapshot."""
    return {
        database_name(step)
        for step in spec.setup
        if step.kind is StepKind.DAT and step.path is not None
    }
