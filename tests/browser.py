"""A page as a person sees it: headless Chromium (Debian's `chromium`) takes a screenshot, and
the PNG is read back to count the pixels of given colours. Outside CI a missing Chromium skips
the test; in CI (CI=true) it fails it (scripts/ensure-browser installs it)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from pathlib import Path

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    """The browser's path; skip (fail in CI) when there is none."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    message = "no headless Chromium: apt-get install chromium (scripts/ensure-browser)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def screenshot(page: Path, png: Path, width: int = 1100, height: int = 900) -> None:
    """Render ``page`` (a local file) headless and save what it shows as ``png``."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",  # as root in a container, Chromium refuses its sandbox
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                f"--screenshot={png}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0 and png.is_file(), done.stdout + done.stderr


def _unfilter(kind: int, line: bytearray, previous: bytes, bpp: int) -> None:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        corner = previous[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            line[i] = (line[i] + pred) & 0xFF


def pixels(png: Path) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium
    writes; PNG specification, sections 11.2.2 IHDR and 9 filtering)."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, previous = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, previous, bpp)
        rows.append([tuple(line[x : x + 3]) for x in range(0, stride, bpp)])
        previous = bytes(line)
    return width, height, rows  # type: ignore[return-value]


def rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` as a tuple."""
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def colour_bands(
    png: Path, colours: dict[str, str], least: int = 20
) -> dict[str, list[tuple[int, int]]]:
    """Per named ``#rrggbb`` colour, the bands of pixel rows (first y, last y) holding at least
    ``least`` pixels of exactly that colour: one band per bar drawn across the page."""
    _, _, rows = pixels(png)
    counts = [Counter(row) for row in rows]
    return {
        name: _bands([y for y, count in enumerate(counts) if count[rgb(value)] >= least])
        for name, value in colours.items()
    }


def _bands(ys: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for y in ys:
        if out and y == out[-1][1] + 1:
            out[-1] = (out[-1][0], y)
        else:
            out.append((y, y))
    return out
