"""Why a snapshot would be rebuilt: a field-by-field diff of key inputs, and cache state lookups."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from iris_envs import bounded, naming
from iris_envs.cache import lookup
from iris_envs.config.spec import EnvSpec

if TYPE_CHECKING:
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.engine.types import ImageInfo

BUILT = "built"
STALE = "stale"
MISSING = "missing"

_SCALARS = ("platform", "edition", "namespace", "username")


def _short(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _base_image_lines(old: Any, new: Any) -> list[str]:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return [f"base image: {_short(old)} -> {_short(new)}"]
    old_ref, new_ref = old.get("ref"), new.get("ref")
    old_id, new_id = old.get("id"), new.get("id")
    if old_ref != new_ref:
        return [f"base image: {_short(old_ref)} -> {_short(new_ref)}"]
    if old_id is None and new_id is None:
        return []
    if new_id is None:
        return [f"base image {new_ref} keyed by tag now (engine offline or image absent)"]
    if old_id is None:
        return [f"base image {new_ref} now keyed by image ID {new_id} (was keyed by tag)"]
    return [f"base image {new_ref} now points to {new_id} (was {old_id})"]


def _step_identity(step: Any) -> tuple[str, str]:
    if isinstance(step, Mapping):
        return (str(step.get("kind")), str(step.get("source")))
    return ("?", _short(step))


def _step_name(index: int, step: Any) -> str:
    kind, source = _step_identity(step)
    return f"setup[{index}] {kind} {source}"


def _content_line(what: str, old: Any, new: Any) -> str:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        if old.get("type") != new.get("type"):
            return f"{what}: was a {old.get('type')}, now a {new.get('type')}"
        if "files" in old and "files" in new and old["files"] != new["files"]:
            return f"{what}: content changed ({old['files']} -> {new['files']} files)"
    return f"{what}: content changed"


# Files named per changed folder before "and N more".
MAX_NAMED_FILES = 5

# {"<kind> <source>": {relative path: hash}} of the old snapshot and of now (LABEL_FILES).
Files = Mapping[str, Mapping[str, str]]


def _file_changes(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """``a.cls changed, b.cls added, c.cls removed`` (at most MAX_NAMED_FILES, then a count)."""
    changes = [
        f"{path} {'added' if path not in old else 'removed' if path not in new else 'changed'}"
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]
    shown = ", ".join(changes[:MAX_NAMED_FILES])
    more = len(changes) - MAX_NAMED_FILES
    return shown + (f" and {more} more" if more > 0 else "")


def _same_step_lines(
    index: int, old: Any, new: Any, files: tuple[Files, Files] = ({}, {})
) -> list[str]:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return [] if old == new else [f"{_step_name(index, new)}: changed"]
    name = _step_name(index, new)
    lines: list[str] = []
    if old.get("content") != new.get("content"):
        listed = " ".join(_step_identity(new))
        old_files, new_files = files[0].get(listed), files[1].get(listed)
        named = _file_changes(old_files, new_files) if old_files and new_files else ""
        if named:  # the folder's files, one by one, when both sides listed them
            lines.append(f"{name}: {named}")
        else:
            lines.append(_content_line(name, old.get("content"), new.get("content")))
    if old.get("namespace") != new.get("namespace"):
        lines.append(
            f"{name}: namespace {_short(old.get('namespace'))} -> {_short(new.get('namespace'))}"
        )
    old_opts, new_opts = old.get("options"), new.get("options")
    if isinstance(old_opts, Mapping) and isinstance(new_opts, Mapping):
        for option in sorted(set(old_opts) | set(new_opts)):
            if old_opts.get(option) != new_opts.get(option):
                lines.append(
                    f"{name}: option {option} "
                    f"{_short(old_opts.get(option))} -> {_short(new_opts.get(option))}"
                )
    elif old_opts != new_opts:
        lines.append(f"{name}: options {_short(old_opts)} -> {_short(new_opts)}")
    known = {"kind", "source", "content", "namespace", "options"}
    for extra in sorted((set(old) | set(new)) - known):
        if old.get(extra) != new.get(extra):
            lines.append(f"{name}: {extra} {_short(old.get(extra))} -> {_short(new.get(extra))}")
    return lines


def _setup_lines(old: Any, new: Any, files: tuple[Files, Files] = ({}, {})) -> list[str]:
    if not isinstance(old, list) or not isinstance(new, list):
        return [f"setup: {_short(old)} -> {_short(new)}"]
    old_ids = [_step_identity(s) for s in old]
    new_ids = [_step_identity(s) for s in new]
    if old_ids != new_ids and sorted(old_ids) == sorted(new_ids):
        # Same steps, other order: say so instead of listing removals and additions.
        before = ", ".join(f"{k} {s}" for k, s in old_ids)
        after = ", ".join(f"{k} {s}" for k, s in new_ids)
        lines = [f"setup order changed: [{before}] -> [{after}]"]
        by_id_old = dict(zip(old_ids, old, strict=True))
        for i, (ident, step) in enumerate(zip(new_ids, new, strict=True), 1):
            lines += _same_step_lines(i, by_id_old.get(ident), step, files)
        return lines
    lines = []
    matcher = difflib.SequenceMatcher(a=old_ids, b=new_ids, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            for offset in range(a1 - a0):
                lines += _same_step_lines(
                    b0 + offset + 1, old[a0 + offset], new[b0 + offset], files
                )
            continue
        lines += [f"{_step_name(a + 1, old[a])}: removed" for a in range(a0, a1)]
        lines += [f"{_step_name(b + 1, new[b])}: added" for b in range(b0, b1)]
    return lines


def _cpf_lines(old: Any, new: Any) -> list[str]:
    if old is None:
        return [
            f"cpf_merge {_short(new.get('source') if isinstance(new, Mapping) else new)}: added"
        ]
    if new is None:
        return [
            f"cpf_merge {_short(old.get('source') if isinstance(old, Mapping) else old)}: removed"
        ]
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        if old.get("source") != new.get("source"):
            return [f"cpf_merge: {_short(old.get('source'))} -> {_short(new.get('source'))}"]
        return [
            _content_line(f"cpf_merge {new.get('source')}", old.get("content"), new.get("content"))
        ]
    return [f"cpf_merge: {_short(old)} -> {_short(new)}"]


def describe_changes(
    old_inputs: Mapping[str, Any],
    new_inputs: Mapping[str, Any],
    old_files: Files | None = None,
    new_files: Files | None = None,
) -> list[str]:
    """One human line per changed key input; ``[]`` when the inputs are equal.

    Secrets never appear: the password is compared by its hash and reported as "changed". With
    both snapshots' folder listings (``LABEL_FILES``, ``cache_key.input_files``) a changed
    folder names its changed, added and removed files.
    """
    files = (old_files or {}, new_files or {})
    lines: list[str] = []
    for key in sorted(set(old_inputs) | set(new_inputs), key=_order):
        old, new = old_inputs.get(key), new_inputs.get(key)
        if old == new:
            continue
        if key == "recipe":
            lines.append(
                f"recipe version: {_short(old)} -> {_short(new)} "
                "(iris-envs changed how snapshots are built)"
            )
        elif key == "base_image":
            lines += _base_image_lines(old, new)
        elif key == "password":
            lines.append("password changed")
        elif key == "setup":
            lines += _setup_lines(old, new, files)
        elif key == "cpf_merge":
            lines += _cpf_lines(old, new)
        else:
            lines.append(f"{key}: {_short(old)} -> {_short(new)}")
    return lines


_KEY_ORDER = ("recipe", "base_image", "platform", "edition", "namespace", "username", "password")


def _order(key: str) -> tuple[int, str]:
    return (_KEY_ORDER.index(key) if key in _KEY_ORDER else len(_KEY_ORDER), key)


def parse_inputs_label(info: ImageInfo) -> dict[str, Any] | None:
    """The key inputs stored on a snapshot, or None when the label is missing or unreadable."""
    raw = info.labels.get(naming.LABEL_INPUTS)
    if not raw:
        return None
    try:
        data = bounded.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parse_files_label(info: ImageInfo) -> dict[str, dict[str, str]]:
    """The folder listings stored on a snapshot; ``{}`` when absent (older snapshots) or bad."""
    try:
        data = bounded.loads(info.labels.get(naming.LABEL_FILES) or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        str(k): {str(p): str(h) for p, h in v.items()}
        for k, v in data.items()
        if isinstance(v, dict)
    }


def cache_state(engine: DockerEngine, spec: EnvSpec, key: str) -> str:
    """``built`` (the project's keyed snapshot exists, or another project's identical one that
    a run would share), ``stale`` (only older ones of this project do) or ``missing``."""
    if lookup.own_snapshot(engine, spec.project_root, spec.name, key) is not None:
        return BUILT
    if lookup.shareable_snapshot(engine, spec.name, key) is not None:
        return BUILT
    if lookup.project_images(engine, spec.project_root, spec.name):
        return STALE
    return MISSING


def newest_snapshot(engine: DockerEngine, spec: EnvSpec) -> ImageInfo | None:
    """The most recently built snapshot of an environment (by its created label), if any: the
    project's own, else one under the project-independent name (archives, older iris-envs);
    never another project's, whose inputs say nothing about why this project rebuilds."""
    images = lookup.project_images(engine, spec.project_root, spec.name)
    if not images:
        shared = naming.snapshot_repository(spec.name) + ":"
        images = [
            info
            for info in engine.images_by_label({naming.LABEL_ENV: spec.name})
            if any(tag.startswith(shared) for tag in info.tags)
        ]
    if not images:
        return None
    return max(images, key=lambda info: (info.labels.get(naming.LABEL_CREATED, ""), info.created))
