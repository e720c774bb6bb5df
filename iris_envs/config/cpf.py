"""Check that a CPF merge file took effect, by reading the instance's iris.cpf afterwards.

"IRIS Merge completed successfully" has been observed for a merge file that does not exist and
for a misspelt section (iris-facts.md, "iris-main options"), so the log line proves nothing; the
settings in ``iris.cpf`` do. ``[Actions]`` operations that create a database, a namespace or a
mapping are checked by the entry they leave in ``iris.cpf`` (they run Config.*.Create, which
writes it: RACS_createdatabase, RACS_createnamespace, RACS_CREATEMAPGLOBAL,
RACS_createmappackage); other actions (users, resources, Modify*/Delete*) are not checked.
"""

from __future__ import annotations

from collections.abc import Iterator

# "The default CPF, iris.cpf, is located in the installation directory" (CPF reference,
# RACS_cpf), /usr/irissys in the InterSystems images (ADOCK), beside mgr/, not in it; under
# durable %SYS it is in ISC_DATA_DIRECTORY, which snapshots never use (iris-facts.md).
IRIS_CPF = "/usr/irissys/iris.cpf"
UNCHECKED_SECTIONS = frozenset({"actions"})
# The [Actions] operations whose effect is an iris.cpf entry: (section, key) from its fields.
_ACTION_ENTRIES = {
    "createdatabase": ("databases", "{name}"),
    "createnamespace": ("namespaces", "{name}"),
    "createmapglobal": ("map.{namespace}", "global_{name}"),
    "createmappackage": ("map.{namespace}", "package_{name}"),
    "createmaproutine": ("map.{namespace}", "routine_{name}"),
}


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


def same_value(merged: str, written: str | None) -> bool:
    """A merged value as IRIS writes it back: a directory gains a trailing slash (every
    [Databases] entry of RACS_Database_n ends in one), so `/data/app` and `/data/app/` agree."""
    if written is None:
        return False
    return merged == written or merged.rstrip("/") + "/" == written.rstrip("/") + "/"


def unmerged_settings(merge_text: str, cpf_text: str) -> list[str]:
    """The merge file's settings that ``iris.cpf`` does not have (as ``[Section] Key=value``), and
    its create actions that left no entry there."""
    cpf = parse_cpf(cpf_text)
    missing = []
    for (section, key), value in parse_cpf(merge_text).items():
        if section in UNCHECKED_SECTIONS:
            continue
        if not same_value(value, cpf.get((section, key))):
            missing.append(f"[{section}] {key}={value}")
    for action, (section, key) in action_entries(merge_text):
        if (section, key) not in cpf:
            missing.append(f"[Actions] {action} (no {key} in [{section}])")
    for raw in merge_text.splitlines():
        header = raw.strip()
        # A lower-case [actions] section is ignored, its operations with it (reported in the
        # developer community's merge tests; InterSystems documents the section as [Actions]).
        if header.lower() == "[actions]" and header != "[Actions]":
            missing.append(f"{header} (the section is [Actions]: IRIS ignores {header})")
    return missing


def action_entries(merge_text: str) -> Iterator[tuple[str, tuple[str, str]]]:
    """Each checkable ``[Actions]`` line with the (section, key) it creates, lower-cased. Only the
    section written exactly ``[Actions]`` counts (a lower-case one is ignored by IRIS)."""
    section = ""
    for raw in merge_text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section != "Actions" or ":" not in line or line.startswith(";"):
            continue
        operation, _, rest = line.partition(":")
        entry = _ACTION_ENTRIES.get(operation.strip().lower())
        if entry is None:
            continue
        fields = {
            name.strip().lower(): value.strip()
            for name, _, value in (part.partition("=") for part in rest.split(","))
        }
        try:
            target = (entry[0].format(**fields).lower(), entry[1].format(**fields).lower())
        except KeyError:  # a field the operation needs is missing: IRIS creates nothing either
            target = (entry[0], entry[1])
        yield line, target


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
