"""The `dat` setup step: copy a database (a fixture folder or a plain folder) in, mount, map it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from iris_envs.cpf import merged_databases
from iris_envs.docker_adapter import DockerEngine, FileToCopy
from iris_envs.errors import BuildFailed
from iris_envs.fixtures import (
    MANIFEST_NAME,
    FixtureManifest,
    is_fixture_folder,
    is_newer,
    read_manifest,
)
from iris_envs.hashing import default_cache
from iris_envs.manifest import EnvSpec, SetupStep
from iris_envs.objectscript import IRIS_OWNER_UID, ScriptFailed, run_session, throw_on_error
from iris_envs.recipes import ENV_ARGUMENT, ENV_DATABASE, ENV_NAMESPACE, ENV_PATH

MGR_DIR = PurePosixPath("/usr/irissys/mgr")
DEFAULT_MOUNT = "namespace"
# Marks the $ZVERSION line in the version probe's output, and each table's row count.
VERSION_MARKER = "IRIS-ENVS-ZVERSION:"
ROWS_MARKER = "IRIS-ENVS-ROWS:"
# The manifest's table names reach ObjectScript as exec variables, never spliced into code.
ENV_TABLE_COUNT = "IRIS_ENVS_TABLE_COUNT"
ENV_TABLE_PREFIX = "IRIS_ENVS_TABLE_"


@dataclass(frozen=True)
class DatCopy:
    """Where a `dat` step's database landed and how many bytes were sent."""

    directory: str
    bytes_copied: int


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


def target_namespace(spec: EnvSpec, step: SetupStep) -> str:
    """The namespace a `dat` step maps its database into."""
    return step.namespace or spec.namespace


def copy_database(engine: DockerEngine, container_id: str, step: SetupStep) -> DatCopy:
    """Copy the database files into mgr/<database>/, owned by irisowner (iris-facts.md: IRIS
    cannot open an IRIS.DAT owned by anyone else). A fixture sends only its manifest's files;
    afterwards each is checked against the manifest through the key's stat cache: a file written
    during the copy has a new stat, is hashed again and fails the check."""
    assert step.path is not None
    destination = dat_directory(step)
    manifest = _manifest(step) if is_fixture_folder(step.path) else None
    if manifest is None:
        files = [FileToCopy(p, p.name) for p in sorted(step.path.iterdir())]
    else:
        files = [FileToCopy(step.path / entry.path, entry.path) for entry in manifest.files]
    copied = engine.copy_in(
        container_id, str(destination), files, uid=IRIS_OWNER_UID, gid=IRIS_OWNER_UID
    )
    if manifest is not None:
        _check_unchanged(step, manifest)
    return DatCopy(str(destination), copied)


def _manifest(step: SetupStep) -> FixtureManifest:
    assert step.path is not None
    manifest, problems = read_manifest(step.path)
    if manifest is None:
        raise BuildFailed(f"{step.describe()}: {MANIFEST_NAME}: " + "; ".join(problems))
    return manifest


def _check_unchanged(step: SetupStep, manifest: FixtureManifest) -> None:
    """The files copied in must still be what the key (the manifest's checksums) describes.

    The key validated them through the stat cache just before the build; an unchanged stat
    proves the same bytes without reading a gigabyte again (the key's own trust model)."""
    assert step.path is not None
    cache = default_cache()
    for entry in manifest.files:
        path = step.path / entry.path
        try:
            now = cache.file_hash(path)
        except OSError as error:
            now = f"unreadable ({error.strerror})"
        if now != entry.sha256:
            raise BuildFailed(
                f"{step.describe()}: {path} changed during the build: the manifest expects "
                f"{entry.sha256}, the file now has {now}; nothing was committed",
                hint="run the build again once the fixture is no longer being written",
            )


def _version_line(step: SetupStep) -> list[str]:
    """For a fixture folder: ObjectScript that writes the image's $ZVERSION, marked."""
    assert step.path is not None
    return [f'Write !,"{VERSION_MARKER}",$ZVERSION,!'] if is_fixture_folder(step.path) else []


def _banner(output: str) -> str:
    return next(
        (
            line.split(VERSION_MARKER, 1)[1].strip()
            for line in output.splitlines()
            if VERSION_MARKER in line
        ),
        "",
    )


def refuse_newer_fixture(step: SetupStep, banner: str) -> None:
    """Refuse a fixture made by a NEWER IRIS than the image's ``banner`` ($ZVERSION): databases
    upgrade forward only."""
    assert step.path is not None
    if not banner or not is_fixture_folder(step.path):
        return
    manifest = _manifest(step)
    if is_newer(manifest.iris_version, banner):
        raise BuildFailed(
            f"{step.describe()}: the fixture {step.path} was made by IRIS "
            f"{manifest.iris_version}, newer than this image's IRIS ({banner}); a database "
            "can be opened by the same or a newer IRIS version, never an older one",
            hint=f"use an image of IRIS {manifest.iris_version} or later, or create the fixture "
            "again from an instance of the image's version",
        )


def session_environment(spec: EnvSpec, step: SetupStep, directory: str) -> dict[str, str]:
    """The exec variables the `dat` step's ObjectScript reads (values never spliced in)."""
    assert step.path is not None
    mode = mount_mode(step)
    return {
        ENV_PATH: directory,
        ENV_DATABASE: database_name(step),
        ENV_NAMESPACE: target_namespace(spec, step),
        ENV_ARGUMENT: mode.split(":", 1)[1] if mode.startswith("globals:") else "",
    }


def dat_body(step: SetupStep) -> list[str]:
    """ObjectScript (in %SYS) that adds, mounts and maps the copied database; one statement per
    line (objectscript.py runs each line in its own Try).

    Data Integrity Guide, "restore to a different system" (iris-facts.md): add the copied
    IRIS.DAT to the configuration, then mount it. The Config classes share the
    Create/Get/Modify API (class reference, Config.MapPackages); a global mapping is
    Config.MapGlobals.Create(namespace, name, .p) with p("Database") (CPF reference,
    CreateMapGlobal).
    """
    lines = [
        f'Set path=$system.Util.GetEnviron("{ENV_PATH}")',
        f'Set db=$system.Util.GetEnviron("{ENV_DATABASE}")',
        f'Set ns=$system.Util.GetEnviron("{ENV_NAMESPACE}")',
        'Set p("Directory")=path',
        "If '##class(Config.Databases).Exists(db) "
        f"Set sc=##class(Config.Databases).Create(db,.p) {throw_on_error('sc')}",
        f"Set sc=##class(SYS.Database).MountDatabase(path) {throw_on_error('sc')}",
    ]
    mode = mount_mode(step)
    if mode == "namespace":
        lines += [
            f"Set sc=##class(Config.Namespaces).Get(ns,.n) {throw_on_error('sc')}",
            'Set n("Globals")=db',
            'Set n("Routines")=db',
            f"Set sc=##class(Config.Namespaces).Modify(ns,.n) {throw_on_error('sc')}",
        ]
    elif mode.startswith("globals:"):
        lines += [
            f'Set name=$system.Util.GetEnviron("{ENV_ARGUMENT}")',
            'Set m("Database")=db',
            "If '##class(Config.MapGlobals).Exists(ns,name) "
            f"Set sc=##class(Config.MapGlobals).Create(ns,name,.m) {throw_on_error('sc')}",
        ]
    return lines


def row_count_body() -> list[str]:
    """ObjectScript that counts each manifest table's rows through SQL in the session's
    namespace, one marked line per table: "<name>:<count>", or "<name>:ERR:<message>".

    The name ("Schema.Table", as ``fixture create`` records it) is quoted as two delimited
    identifiers with embedded quotes doubled, so no manifest text becomes SQL or ObjectScript.
    """
    quoted = '""""_$Replace(%s,"""","""""")_""""'
    return [
        f'Set n=+$system.Util.GetEnviron("{ENV_TABLE_COUNT}")',
        f'For i=1:1:n {{ Set t=$system.Util.GetEnviron("{ENV_TABLE_PREFIX}"_i) '
        'Set s=$Piece(t,".",1),tb=$Piece(t,".",2,$Length(t,".")) '
        'Set q="SELECT COUNT(*) FROM "_' + (quoted % "s") + '_"."_' + (quoted % "tb") + " "
        "Set rs=##class(%SQL.Statement).%ExecDirect(,q) "
        f'If rs.%SQLCODE<0 {{ Write !,"{ROWS_MARKER}",t,":ERR:",rs.%Message,! }} '
        f'Else {{ Do rs.%Next() Write !,"{ROWS_MARKER}",t,":",rs.%GetData(1),! }} }}',
    ]


def row_count_problems(manifest: FixtureManifest, output: str) -> list[str]:
    """Each manifest table whose rows, counted after the restore, differ from the manifest."""
    seen: dict[str, str] = {}
    for line in output.splitlines():
        if ROWS_MARKER in line:
            rest = line.split(ROWS_MARKER, 1)[1].strip()
            if ":ERR:" in rest:  # the SQL message may itself hold colons
                name, message = rest.split(":ERR:", 1)
                seen.setdefault(name, "ERR:" + message)
            else:
                name, _, count = rest.rpartition(":")
                seen.setdefault(name, count)
    problems = []
    for table in manifest.tables:
        value = seen.get(table.name)
        if value is None:
            problems.append(f"{table.name}: no row count came back")
        elif value.startswith("ERR:"):
            problems.append(f"{table.name}: SQL failed ({value[4:].strip()})")
        elif value != str(table.row_count):
            problems.append(f"{table.name}: {value} rows, the manifest says {table.row_count}")
    return problems


def check_row_counts(
    engine: DockerEngine, container_id: str, spec: EnvSpec, step: SetupStep, *, timeout: float
) -> str:
    """With ``mount = "namespace"`` the namespace sees the fixture's tables: count their rows
    through SQL and fail the build on any difference from the manifest (a truncated copy, or a
    fixture whose tables were made elsewhere). Other mounts do not expose the tables' classes."""
    assert step.path is not None
    if mount_mode(step) != "namespace" or not is_fixture_folder(step.path):
        return ""
    manifest = _manifest(step)
    if not manifest.tables:
        return ""
    environment = {ENV_TABLE_COUNT: str(len(manifest.tables))}
    environment.update(
        {f"{ENV_TABLE_PREFIX}{i}": table.name for i, table in enumerate(manifest.tables, 1)}
    )
    result = run_session(
        engine,
        container_id,
        row_count_body(),
        namespace=target_namespace(spec, step),
        environment=environment,
        timeout=timeout,
        what=f"{step.describe()}: count the manifest's table rows",
    )
    problems = row_count_problems(manifest, result.output)
    if problems:
        raise BuildFailed(
            f"{step.describe()}: the restored fixture's tables do not match its manifest: "
            + "; ".join(problems)
            + "; nothing was committed",
            hint="create the fixture again with `iris-envs fixture create --namespace NS`, "
            "which records the row counts of the namespace's tables",
        )
    return f"{len(manifest.tables)} table row count(s) match the manifest\n"


def run_dat(
    engine: DockerEngine,
    container_id: str,
    spec: EnvSpec,
    step: SetupStep,
    *,
    timeout: float,
    on_progress: Callable[[str], None] | None = None,
    copied: DatCopy | None = None,
) -> tuple[str, int]:
    """Copy the database in, then add, mount and map it; return the session output and the
    bytes copied. ``copied`` is the copy made ahead (dat_prestage).

    The image's version is read by the same session, first (each line runs on its own, so it is
    written even when the mount fails): a fixture from a newer IRIS fails the build either way,
    named as such rather than as the refused mount it causes, and nothing is committed.
    """
    copy = copied or copy_database(engine, container_id, step)
    if on_progress is not None:
        on_progress(f"copied {copy.bytes_copied:,} bytes")
    try:
        result = run_session(
            engine,
            container_id,
            _version_line(step) + dat_body(step),
            namespace="%SYS",
            environment=session_environment(spec, step, copy.directory),
            timeout=timeout,
            what=step.describe(),
        )
    except ScriptFailed as failure:
        refuse_newer_fixture(step, _banner(failure.output))
        raise
    banner = _banner(result.output)
    refuse_newer_fixture(step, banner)
    counted = check_row_counts(engine, container_id, spec, step, timeout=timeout)
    note = f"image IRIS: {banner}\n" if banner else ""
    return note + result.output + ("\n" + counted if counted else ""), copy.bytes_copied
