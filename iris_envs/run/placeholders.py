"""Per-environment placeholders in the wrapped command: {env}, {env_dir}, {iris_version}."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from pathlib import Path

from iris_envs.errors import ConfigError

PLACEHOLDERS = ("env", "env_dir", "iris_version")
OUTPUT_FOLDER = ".iris-envs"  # under the project root, as tox keeps `.tox/` there
UNKNOWN_VERSION = "unknown"  # an image whose labels state no version
_HINT = "the command knows {env}, {env_dir} and {iris_version}; write {{ and }} for literal braces"


def _fields(argument: str) -> list[str]:
    """The placeholder names in one argument; ConfigError for anything not a bare name."""
    try:
        parsed = list(string.Formatter().parse(argument))
    except ValueError as error:  # a lone "{" or "}" (str.format's own message names which)
        raise ConfigError(f"the command argument {argument!r}: {error}", hint=_HINT) from None
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion or name not in PLACEHOLDERS:
            shown = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ConfigError(f"unknown placeholder {{{shown}}} in the command", hint=_HINT)
        names.append(name)
    return names


def check_command(command: Sequence[str]) -> set[str]:
    """The placeholders the command uses; ConfigError (exit 2) naming an unknown one, checked
    before anything is built so a typo costs no build."""
    return {name for argument in command for name in _fields(argument)}


def expand(command: Sequence[str], values: Mapping[str, str]) -> tuple[str, ...]:
    """The command with its placeholders replaced and ``{{``/``}}`` made literal braces.

    Each argument is formatted on its own, so a value is never split into several arguments,
    as tox substitutes inside an argument. An argument with no braces is left alone.
    """
    return tuple(a.format_map(values) if "{" in a or "}" in a else a for a in command)


def env_dir(project_root: Path, env: str, output: Path | None) -> Path:
    """The environment's output folder: ``--output DIR``/ENV, else ``.iris-envs/ENV`` in the
    project (env names are safe folder names: config/values.py ENV_NAME)."""
    base = output if output is not None else project_root / OUTPUT_FOLDER
    return base.absolute() / env


def make_env_dir(folder: Path) -> None:
    """Create the folder; the default ``.iris-envs`` gets a ``.gitignore`` of ``*`` (as
    ``.pytest_cache`` does) so its outputs are never committed by accident."""
    folder.mkdir(parents=True, exist_ok=True)
    if folder.parent.name == OUTPUT_FOLDER:
        ignore = folder.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# created by iris-envs\n*\n", encoding="utf-8")


def command_values(env: str, folder: Path, iris_version: str) -> dict[str, str]:
    """The values of the placeholders for one environment."""
    return {"env": env, "env_dir": str(folder), "iris_version": iris_version or UNKNOWN_VERSION}
