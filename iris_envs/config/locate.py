"""The line of a TOML file that declares a key path, for annotations that point at it.

tomllib gives values, not positions. This scanner walks the same text for its structure only:
table and array-of-tables headers, ``key = value`` pairs (dotted keys too), arrays and inline
tables, skipping strings and comments, and records the line where each key path starts. Array
indexes are 1-based, as error messages and ``explain`` number setup steps. The file was parsed
by tomllib first, so the scanner can be lenient: on anything it does not follow it stops and
keeps what it found.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import sys
from pathlib import Path

from iris_envs.errors import Where

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

Key = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SPACE = " \t"
_SCALAR_END = ",]}\n\r#"
# tomllib's message: "... (at line 3, column 7)"; "(at end of document)" has no line.
_DECODE_LINE = re.compile(r"\(at line (\d+), column \d+\)")


class _Stop(Exception):
    """The scanner met text it does not follow: keep what was found."""


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.lines: dict[Key, int] = {}
        self.array_tables: dict[Key, int] = {}  # header path -> how many [[...]] so far

    # -- positions ---------------------------------------------------------------------------
    def line(self) -> int:
        return bisect.bisect_right(self.starts, self.pos)

    def record(self, key: Key) -> None:
        """``key`` and each of its prefixes start here unless they started earlier."""
        for end in range(1, len(key) + 1):
            self.lines.setdefault(key[:end], self.line())

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos : self.pos + count]

    # -- whitespace, comments ----------------------------------------------------------------
    def skip_space(self) -> None:
        while self.peek() and self.peek() in _SPACE:
            self.pos += 1

    def skip_blank(self) -> None:
        """Whitespace, newlines and comments (inside arrays, between statements)."""
        while self.pos < len(self.text):
            char = self.peek()
            if char in _SPACE or char in "\r\n":
                self.pos += 1
            elif char == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    # -- keys --------------------------------------------------------------------------------
    def simple_key(self) -> str:
        char = self.peek()
        if char in "\"'":
            start = self.pos
            self.string()
            raw = self.text[start : self.pos]
            try:
                return str(tomllib.loads(f"k = {raw}")["k"])
            except tomllib.TOMLDecodeError:
                raise _Stop from None
        match = _BARE.match(self.text, self.pos)
        if match is None:
            raise _Stop
        self.pos = match.end()
        return match.group()

    def dotted_key(self) -> tuple[str, ...]:
        parts = [self.simple_key()]
        self.skip_space()
        while self.peek() == ".":
            self.pos += 1
            self.skip_space()
            parts.append(self.simple_key())
            self.skip_space()
        return tuple(parts)

    # -- values ------------------------------------------------------------------------------
    def string(self) -> None:
        quote = self.peek()
        if self.peek(3) == quote * 3:  # multi-line: up to two more quotes may end the content
            self.pos += 3
            while self.pos < len(self.text):
                if quote == '"' and self.peek() == "\\":
                    self.pos += 2
                elif self.peek(3) == quote * 3:
                    self.pos += 3
                    extra = 0
                    while extra < 2 and self.peek() == quote:
                        self.pos, extra = self.pos + 1, extra + 1
                    return
                else:
                    self.pos += 1
            raise _Stop
        self.pos += 1
        while self.pos < len(self.text):
            char = self.peek()
            if char in "\r\n":
                raise _Stop
            if quote == '"' and char == "\\":
                self.pos += 2
                continue
            self.pos += 1
            if char == quote:
                return
        raise _Stop

    def value(self, key: Key) -> None:
        char = self.peek()
        if char in "\"'":
            self.string()
        elif char == "[":
            self.array(key)
        elif char == "{":
            self.inline_table(key)
        else:  # numbers, booleans, dates (a date may hold a space: up to a delimiter)
            start = self.pos
            while self.pos < len(self.text) and self.peek() not in _SCALAR_END:
                self.pos += 1
            if self.pos == start:
                raise _Stop

    def array(self, key: Key) -> None:
        self.pos += 1  # [
        index = 0
        while True:
            self.skip_blank()
            if self.peek() == "]":
                self.pos += 1
                return
            index += 1
            self.record((*key, index))
            self.value((*key, index))
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise _Stop

    def inline_table(self, key: Key) -> None:
        self.pos += 1  # {
        self.skip_space()
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            self.skip_blank()  # TOML 1.1 allows newlines here; harmless for 1.0 files
            self.key_value(key)
            self.skip_blank()
            if self.peek() == ",":
                self.pos += 1
                continue
            if self.peek() == "}":
                self.pos += 1
                return
            raise _Stop

    def key_value(self, table: Key) -> None:
        start = self.pos
        dotted = self.dotted_key()
        full = (*table, *dotted)
        end, self.pos = self.pos, start
        self.record(full)  # at the key's first character
        self.pos = end
        if self.peek() != "=":
            raise _Stop
        self.pos += 1
        self.skip_space()
        self.value(full)

    # -- the document ------------------------------------------------------------------------
    def resolve(self, header: tuple[str, ...]) -> Key:
        """A header's key path with the current element of every array of tables it passes."""
        out: list[str | int] = []
        for part in header:
            out.append(part)
            count = self.array_tables.get(tuple(out))
            if count:
                out.append(count)
        return tuple(out)

    def document(self) -> None:
        table: Key = ()
        while True:
            self.skip_blank()
            if self.pos >= len(self.text):
                return
            if self.peek(2) == "[[":
                self.pos += 2
                self.skip_space()
                header = self.dotted_key()
                parent = self.resolve(header[:-1])
                plain = (*parent, header[-1])
                self.array_tables[plain] = self.array_tables.get(plain, 0) + 1
                table = (*plain, self.array_tables[plain])
                self.record(table)
                if self.peek(2) != "]]":
                    raise _Stop
                self.pos += 2
            elif self.peek() == "[":
                self.pos += 1
                self.skip_space()
                table = self.resolve(self.dotted_key())
                self.record(table)
                if self.peek() != "]":
                    raise _Stop
                self.pos += 1
            else:
                self.key_value(table)


def key_lines(text: str) -> dict[Key, int]:
    """Every key path the text declares, and the line (1-based) where it starts."""
    scanner = _Scanner(text)
    with contextlib.suppress(_Stop, IndexError):
        scanner.document()
    return scanner.lines


def key_line(text: str, key: Key) -> int | None:
    """The line declaring ``key``, or its nearest declared ancestor; None when neither is."""
    lines = key_lines(text)
    for end in range(len(key), 0, -1):
        if key[:end] in lines:
            return lines[key[:end]]
    return None


def decode_error_line(message: str) -> int | None:
    """The line tomllib names in a TOMLDecodeError message, if it names one."""
    match = _DECODE_LINE.search(message)
    return int(match.group(1)) if match else None


def locate(where: Where) -> Where:
    """``where`` with its line filled in from the file (unchanged if unreadable or known)."""
    if where.line is not None or not where.key:
        return where
    try:
        text = where.file.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return where
    line = key_line(text, where.key)
    return Where(where.file, where.key, line) if line is not None else where


def key_of(prefix: str, path: Key) -> Key:
    """The full key path of ``path`` under a context prefix (``tool.iris-envs`` or '')."""
    return (*prefix.split("."), *path) if prefix else path


def file_where(path: Path, line: int | None) -> Where:
    """A place that is only a file (and maybe a line): a TOML syntax error."""
    return Where(path, (), line)
