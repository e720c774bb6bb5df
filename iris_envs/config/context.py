"""Where a configuration value came from, so every error names the file and the key path."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from iris_envs.config.locate import key_of
from iris_envs.config.values import BARE_KEY, ENV_NAME, MAX_ENV_NAME, control_character
from iris_envs.errors import ConfigError, Where

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
            text = part if BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
            out = f"{out}.{text}" if out else text
    return out


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class Context:
    """Where values come from, so every error can name the file and the key path."""

    file: Path
    prefix: str  # "tool.iris-envs" in pyproject.toml, "" in iris-envs.toml
    root: Path
    note: str = ""  # extra context, e.g. which generated environment was being built
    # False: resolve an environment without looking at its input files (one whose files are
    # missing is still listed, and does not stop the others: load.parse_project)
    check_inputs: bool = True

    def fail(
        self,
        path: Path_,
        problem: str,
        *,
        value: Any = None,
        allowed: str | None = None,
        error: type[ConfigError] = ConfigError,
    ) -> NoReturn:
        where = format_key_path(self.prefix, path) or "(top level)"
        message = f"{self.file}: {where}: {problem}"
        if value is not None:
            message += f" (got {show(value)})"
        if allowed:
            message += f"; allowed: {allowed}"
        if self.note:
            message += f" [{self.note}]"
        raise error(message, where=self.where(path))

    def where(self, path: Path_) -> Where:
        """The file and full key path of ``path`` (its line is found when needed)."""
        return Where(self.file, key_of(self.prefix, path))

    def unknown_key(self, path: Path_, key: str, known: Sequence[str]) -> NoReturn:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self.fail((*path, key), "unknown key" + hint, allowed=", ".join(known))


class InputProblem(ConfigError):
    """An environment's input file is missing or unusable: that environment cannot be used,
    the others can (the configuration itself is valid)."""


@dataclass
class Field:
    """One raw field value and the key path it came from (defaults, matrix or env table)."""

    value: Any
    path: Path_
    from_shared: bool = False  # came from [defaults] or a [matrix] table


@dataclass
class RawEnv:
    name: str
    fields: dict[str, Field] = field(default_factory=dict)
    note: str = ""


def check_env_name(ctx: Context, path: Path_, name: str) -> None:
    if not ENV_NAME.fullmatch(name) or len(name) > MAX_ENV_NAME:
        ctx.fail(
            path,
            "invalid environment name",
            value=name,
            allowed="a letter or digit, then letters, digits, '.', '_' or '-' (no commas), "
            f"at most {MAX_ENV_NAME} characters",
        )


def check_printable(ctx: Context, table: Any) -> None:
    """Refuse a control character in any key or string of the configuration, naming its key
    path and position but never the value (it may be a password)."""
    stack: list[tuple[Path_, Any]] = [((), table)]
    while stack:  # iterative: the table's depth is bounded, but a walk need not recurse
        path, value = stack.pop()
        if isinstance(value, str):
            # Free text (a description, a label's value, a shell step's script) may span lines
            # and hold tabs; a NUL or an escape is never text.
            free = path[-1:] in (("description",), ("shell",)) or path[-2:-1] == ("labels",)
            where = control_character(value.replace("\t", "").replace("\n", "") if free else value)
            if where is not None:
                ctx.fail(
                    path,
                    f"contains a control character ({where}; value not shown)",
                    allowed="printable text: no NUL, newline, tab or escape characters",
                )
        elif isinstance(value, dict):
            for key, item in value.items():
                where = control_character(key)
                if where is not None:
                    ctx.fail(
                        path,
                        f"a key contains a control character ({where})",
                        allowed="printable key names",
                    )
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), item) for i, item in enumerate(value, 1))


def project_path(ctx: Context, path: Path_, source: str, want: str) -> Path:
    """Resolve ``source`` against the project root; it must stay inside and exist.

    Raises InputProblem; with ``ctx.check_inputs`` off, the path is only joined to the root.
    """
    if not ctx.check_inputs:
        return Path(source) if Path(source).is_absolute() else ctx.root / source
    try:
        candidate = Path(source)
        candidate = candidate if candidate.is_absolute() else ctx.root / candidate
        resolved = candidate.resolve()
        root = ctx.root.resolve()
        inside = resolved == root or resolved.is_relative_to(root)
        exists = resolved.exists()
        is_file, is_dir = resolved.is_file(), resolved.is_dir()
    except (OSError, ValueError, RuntimeError) as error:
        ctx.fail(path, f"unusable path ({error})", value=source, error=InputProblem)
    if not inside:
        ctx.fail(
            path,
            f"path escapes the project root {root}",
            value=source,
            allowed="paths inside the project",
            error=InputProblem,
        )
    if not exists:
        ctx.fail(path, f"not found: tried {candidate}", value=source, error=InputProblem)
    if want == "file" and not is_file:
        ctx.fail(path, f"not a file: {candidate}", value=source, error=InputProblem)
    if want == "dir" and not is_dir:
        ctx.fail(path, f"not a directory: {candidate}", value=source, error=InputProblem)
    return resolved
