"""Check that a CPF merge file took effect, by reading the instance's iris.cpf afterwards.

"IRIS Merge completed successfully" has been observed for a merge file that does not exist and
for a misspelt section (iris-facts.md, "iris-main options"), so the log line proves nothing; the
settings in ``iris.cpf`` do. ``[Actions]`` entries change the instance (databases, users), not
``iris.cpf``, and are not checked here.
"""

from __future__ import annotations

from collections.abc import Iterator

IRIS_CPF = "/usr/irissys/mgr/iris.cpf"
UNCHECKED_SECTIONS = frozenset({"actions"})


def parse_cpf(text: str) -> dict[tuple[str, str], str]:
    """``{(section, key): value}`` with section and key lower-cased (CPF names are not case
    sensitive in merge files) and values stripped; comments (``;``) and blank lines skipped."""
    settings: dict[tuple[str, str], str] = {}
    for section, line in _lines(text):
        key, sep, value = line.partition("=")
        if sep and section:
            settings[(section, key.strip().lower())] = value.strip()
    return settings


def _lines(text: str) -> Iterator[tuple[str, str]]:
    """Each setting line with its section (lower-cased); comments and blank lines skipped."""
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            continue
        yield section, line


def unmerged_settings(merge_text: str, cpf_text: str) -> list[str]:
    """The merge file's settings that ``iris.cpf`` does not have (as ``[Section] Key=value``)."""
    cpf = parse_cpf(cpf_text)
    missing = []
    for (section, key), value in parse_cpf(merge_text).items():
        if section in UNCHECKED_SECTIONS:
            continue
        if cpf.get((section, key)) != value:
            missing.append(f"[{section}] {key}={value}")
    return missing


def merged_databases(merge_text: str) -> dict[str, str]:
    """``{NAME: directory}`` of the databases a merge file defines: its ``[Databases]`` entries
    (``NAME=directory,...``) and its ``[Actions]`` ``CreateDatabase:Name=...,Directory=...``
    lines (CPF reference). Names upper-cased; directories without a trailing slash."""
    found: dict[str, str] = {}
    for section, line in _lines(merge_text):
        if section == "databases":
            name, sep, value = line.partition("=")
            if sep:
                found[name.strip().upper()] = value.split(",", 1)[0].strip().rstrip("/")
        elif section == "actions" and line.lower().startswith("createdatabase:"):
            fields = dict(
                part.strip().partition("=")[::2] for part in line.split(":", 1)[1].split(",")
            )
            lowered = {key.strip().lower(): value.strip() for key, value in fields.items()}
            if lowered.get("name"):
                found[lowered["name"].upper()] = lowered.get("directory", "").rstrip("/")
    return found
