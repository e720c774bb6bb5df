"""Decode JSON read from files and image labels within bounds of size and nesting depth."""

from __future__ import annotations

import json
from typing import Any

# No document iris-envs writes or reads nests deeper than ~8 levels (a manifest's files, a key's
# inputs); 64 leaves room for user data under `features` and stops the 200 kB `[[[[...` that
# made the decoder, and every recursive walk after it, raise RecursionError (issue 22, item 13).
MAX_DEPTH = 64
# The largest JSON read from a file or label by default; callers with a bound of their own pass it.
MAX_BYTES = 16 * 1024 * 1024


class BoundsExceeded(ValueError):
    """The text is too large or nests too deeply to be decoded (a ValueError, as bad JSON is)."""


def nesting_depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests lists and dicts, counting no further than ``limit + 1``.

    Iterative: a recursive walk is exactly what a hostile document defeats.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise BoundsExceeded when ``value`` nests lists and dicts deeper than ``limit``."""
    if nesting_depth(value, limit) > limit:
        raise BoundsExceeded(f"nested more than {limit} levels deep")


def loads(text: str | bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses texts over ``max_bytes`` and values deeper than ``max_depth``.

    Raises ValueError (json.JSONDecodeError or BoundsExceeded) for every unusable text, so a
    caller's existing ``except ValueError`` covers hostile input too.
    """
    if len(text) > max_bytes:
        raise BoundsExceeded(f"{len(text):,} bytes, more than the {max_bytes:,} allowed")
    try:
        data = json.loads(text)
    except RecursionError:
        # The C decoder guards its own recursion; deeper than the interpreter's limit is far
        # past max_depth, so say that rather than "maximum recursion depth exceeded".
        raise BoundsExceeded(f"nested more than {max_depth} levels deep") from None
    check_depth(data, max_depth)
    return data
