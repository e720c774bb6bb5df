"""Check a built wheel before it is published: it must carry the ways in that iris-envs promises.

    python scripts/check_wheel.py dist/iris_envs-0.1.0-py3-none-any.whl

The `pytest11` entry point (pytest loads the plugin from it), the `iris-envs` console script,
and every package of the source tree (a subpackage missing from the wheel imports fine from a
checkout and fails only once installed). Exit 0 when all are there, else 1 with what is missing.
Used by .github/workflows/release.yml and tests/packaging/test_wheel.py.
"""

from __future__ import annotations

import configparser
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ("pytest11", "iris_envs", "iris_envs.pytest_plugin")
SCRIPT = ("console_scripts", "iris-envs", "iris_envs.cli.main:main")


def source_packages() -> set[str]:
    """Every package folder (one with an __init__.py) of the checkout's iris_envs."""
    return {
        init.parent.relative_to(ROOT).as_posix()
        for init in (ROOT / "iris_envs").rglob("__init__.py")
    }


def problems(wheel: Path) -> list[str]:
    """What the wheel lacks ([] when nothing)."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        if not entry_points:
            return [f"{wheel.name}: no entry_points.txt in its .dist-info"]
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep the case
        parser.read_string(archive.read(entry_points[0]).decode("utf-8"))
    found: list[str] = []
    for group, name, target in (PLUGIN, SCRIPT):
        value = parser.get(group, name, fallback="").strip()
        if value != target:
            found.append(f"{wheel.name}: entry point [{group}] {name} = {target} is missing")
    packaged = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    found += [f"{wheel.name}: package {p} is missing" for p in sorted(source_packages() - packaged)]
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: check_wheel.py WHEEL...", file=sys.stderr)
        return 2
    found = [problem for wheel in argv for problem in problems(Path(wheel))]
    for problem in found:
        print(f"check_wheel: {problem}", file=sys.stderr)
    if not found:
        print(f"check_wheel: {', '.join(Path(w).name for w in argv)}: entry points and packages OK")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
