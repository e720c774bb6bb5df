"""Reading Markdown as GitHub renders it (GFM tables), for tests of the job summary."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token


def gfm() -> MarkdownIt:
    """CommonMark with GFM tables, raw HTML recognised (so a test sees any that slips in)."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def table_rows(tokens: list[Token]) -> list[list[str]]:
    """The cells of every table row, as the parser split them (header row first)."""
    rows: list[list[str]] = []
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            rows.append([])
        if token.type == "inline" and tokens[i - 1].type in ("th_open", "td_open"):
            rows[-1].append(token.content)
    return rows
