"""Choose environments from -e names, -m tags, or the project's default list."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from iris_envs.config.spec import EnvSpec, Project
from iris_envs.errors import ConfigError, UnknownEnvironment


def split_names(names: Sequence[str] | None) -> list[str]:
    """Flatten repeated and comma-separated names (``-e a,b -e c``), dropping blanks and repeats."""
    out: list[str] = []
    for item in names or ():
        out.extend(part.strip() for part in item.split(",") if part.strip())
    return list(dict.fromkeys(out))


def _unknown(kind: str, value: str, known: Sequence[str]) -> UnknownEnvironment:
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.5)
    listing = ", ".join(known) if known else "(none)"
    return UnknownEnvironment(
        f"unknown {kind} {value!r}; known {kind}s: {listing}",
        hint=f"did you mean {close[0]!r}?" if close else None,
    )


def select_envs(
    project: Project,
    names: Sequence[str] | None,
    tags: Sequence[str] | None,
    *,
    usable: bool = True,
) -> list[EnvSpec]:
    """Return the selected environments in the order named, then tag matches in project order.

    ``-e`` and ``-m`` add up (a union, as tox's ``-e`` and ``-m`` do); with neither, the
    project's ``default`` list applies. With ``usable`` (for every command that builds, keys
    or runs them), a selected environment with a problem (a missing input file) is a
    ConfigError; ``list`` passes False to show it.
    """
    wanted = split_names(names)
    wanted_tags = split_names(tags)
    if (names and not wanted) or (tags and not wanted_tags):
        # `-e ""` (an unset shell variable, typically) must not silently select everything.
        raise UnknownEnvironment(
            "an empty name was given to -e/-m",
            hint="name environments (`iris-envs list` shows them), or drop the option to use "
            "the project's default selection",
        )
    for name in wanted:
        if name not in project.envs:
            raise _unknown("environment", name, list(project.envs))
    known_tags = list(dict.fromkeys(t for spec in project.envs.values() for t in spec.tags))
    for tag in wanted_tags:
        if tag not in known_tags:
            raise _unknown("tag", tag, known_tags)
    if not wanted and not wanted_tags:
        wanted = list(project.default) or list(project.envs)
    selected = [project.envs[name] for name in wanted]
    for spec in project.envs.values():
        if spec.name not in wanted and any(t in spec.tags for t in wanted_tags):
            selected.append(spec)
    if not selected:
        raise UnknownEnvironment("the selection is empty: the project declares no environments")
    broken = [spec for spec in selected if spec.problem] if usable else []
    if broken:
        raise ConfigError(
            broken[0].problem or "",
            where=broken[0].problem_where,
            hint="fix the environment's inputs, or select other environments with -e "
            "(`iris-envs list` shows which ones cannot be used)",
        )
    return selected


def select_one(project: Project, name: str | None) -> EnvSpec:
    """Return one environment: the named one, or the default selection when it is exactly one."""
    if name:
        names = split_names([name])
        if len(names) != 1:
            raise UnknownEnvironment(f"name exactly one environment here (got {name!r})")
        return select_envs(project, names, None)[0]
    defaults = select_envs(project, None, None)
    if len(defaults) != 1:
        raise UnknownEnvironment(
            "name an environment: the default selection has "
            f"{len(defaults)}: {', '.join(s.name for s in defaults)}"
        )
    return defaults[0]
