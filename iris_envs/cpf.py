"""Check that a CPF merge file took effect, by reading the instance's iris.cpf afterwards.

"IRIS Merge completed successfully" has been observed for a merge file that does not exist and
for a misspelt section (iris-facts.md, "iris-main options"), so the log line proves nothing; the
settings in ``iris.cpf`` do. ``[Actions]`` entries change the instance (databases, users), not
``iris.cpf``, and are not checked here.
"""

from __future__ import annotations

IRIS_CPF = "/usr/irissys/mgr/iris.cpf"
UNCHECKED_SECTIONS = frozenset({"actions"})


def parse_cpf(text: str) -> dict[tuple[str, str], str]:
    """``{(section, key): value}`` with section and key lower-cased (CPF names are not case
    sensitive in merge files) and values stripped; comments (``;``) and blank lines skipped."""
    settings: dict[tuple[str, str], str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            continue
        key, sep, value = line.partition("=")
        if sep and section:
            settings[(section, key.strip().lower())] = value.strip()
    return settings


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
