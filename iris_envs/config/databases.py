"""Where a dat step's database lives (mgr/<name>/) and which names belong to the instance itself."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from iris_envs.config.cpf import merged_databases
from iris_envs.config.spec import SetupStep

MGR_DIR = PurePosixPath("/usr/irissys/mgr")


DEFAULT_MOUNT = "namespace"


def database_name(step: SetupStep) -> str:
    """The database a `dat` step restores: its ``database`` option, or its folder's name."""
    assert step.path is not None
    return (step.option("database") or step.path.name).upper()


def dat_directory(step: SetupStep) -> PurePosixPath:
    """mgr/<database>/, the folder the step's IRIS.DAT is copied into."""
    return MGR_DIR / database_name(step).lower()


def merged_clash(step: SetupStep, merge_file: Path | None) -> str | None:
    """The database a CPF merge file defines under the step's database name or in its
    mgr/<database>/ folder (IRIS opens it at start), or None; an unreadable merge file is the
    cache key's to report."""
    if merge_file is None:
        return None
    try:
        merged = merged_databases(merge_file.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    name, directory = database_name(step), str(dat_directory(step))
    return next((n for n, d in merged.items() if n == name or d.lower() == directory), None)


def mount_mode(step: SetupStep) -> str:
    """The step's ``mount`` option: "namespace" (default), "database" or "globals:PATTERN"."""
    return step.option("mount") or DEFAULT_MOUNT


# Namespaces every instance has; anything else is created with a database of its own.
BUILTIN_NAMESPACES = frozenset({"USER", "%SYS"})


# Databases an instance (IRIS, or IRIS for Health / HealthShare) ships with, in mgr/ or
# mgr/<name>/ (System Administration Guide, "Configuring Databases"): a `dat` step named like one
# would overwrite a live system database.
SYSTEM_DATABASES = frozenset(
    {
        "IRISSYS",
        "IRISLIB",
        "IRISTEMP",
        "IRISLOCALDATA",
        "IRISAUDIT",
        "IRISMETRICS",
        "IRISSECURITY",
        "USER",
        "ENSLIB",
        "HSLIB",
        "HSSYS",
        "HSCUSTOM",
        "HSAUDIT",
    }
)
