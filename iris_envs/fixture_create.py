"""``fixture create``: a consistent copy of a database out of a running container, as a fixture."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from filelock import FileLock, Timeout

from iris_envs.docker_adapter import DockerEngine
from iris_envs.errors import ConfigError, IrisEnvsError, NotFoundInEngine, OutputFolderError
from iris_envs.fixtures import (
    DAT_FILE,
    MANIFEST_NAME,
    FixtureFile,
    FixtureManifest,
    FixtureTable,
    iris_version_tuple,
)
from iris_envs.objectscript import ScriptFailed, run_session, throw_on_error
from iris_envs.recipes import ENV_DATABASE, ENV_NAMESPACE, ENV_PATH, SYSTEM_DATABASES

MGR_DIR = PurePosixPath("/usr/irissys/mgr")
METHODS = ("dismount", "freeze")
SESSION_TIMEOUT = 600.0
# Output markers of the probe and row-count sessions.
ZV_MARK, DB_MARK, DIR_MARK, TABLE_MARK = (
    "IRIS-ENVS-ZVERSION:",
    "IRIS-ENVS-DB:",
    "IRIS-ENVS-DIR:",
    "IRIS-ENVS-TABLE:",
)
# At most this many tables are counted (a bounded loop: one statement per line, never endless).
MAX_TABLES = 10000
PARTIAL_SUFFIX = ".partial"
UNDO_TIMEOUT_AFTER_FAILURE = 120.0
# What to do when mounting or thawing again failed (iris-facts.md: `iris thaw IRIS`).
LEFT_BEHIND = {
    "dismount": "the database is left dismounted: mount it in %SYS with "
    "##class(SYS.Database).MountDatabase(dir), or restart the container",
    "freeze": "the instance may be left frozen: run `iris thaw IRIS` in the container",
}


class CreateFailed(IrisEnvsError):
    """The copy could not be taken; the fixture folder holds no manifest (so it is no fixture)."""


# The instance's own databases (recipes.SYSTEM_DATABASES) but USER and HSCUSTOM, which hold the
# user's data: dismounting one of these takes the system, its security, audit or temporary
# storage away from the running instance, so a dismount copy of them is refused.
INSTANCE_DATABASES = SYSTEM_DATABASES - {"USER", "HSCUSTOM"}


@dataclass(frozen=True)
class Source:
    """The database to copy, as the instance describes it."""

    database: str
    namespace: str
    directory: str
    zversion: str


def _marked(output: str, mark: str) -> list[str]:
    return [line.split(mark, 1)[1].strip() for line in output.splitlines() if mark in line]


def probe(
    engine: DockerEngine, container_id: str, database: str | None, namespace: str | None
) -> Source:
    """The IRIS version, and the database's name and directory (a namespace's globals database
    when only the namespace is named): Config.Namespaces / Config.Databases Get (class
    reference, Config.MapPackages: the Config classes' Create/Get/Modify API)."""
    body = [f'Write !,"{ZV_MARK}",$ZVERSION,!']
    if database:
        body.append(f'Set db=$system.Util.GetEnviron("{ENV_DATABASE}")')
    else:
        body += [
            f'Set ns=$system.Util.GetEnviron("{ENV_NAMESPACE}")',
            f"Set sc=##class(Config.Namespaces).Get(ns,.n) {throw_on_error('sc')}",
            'Set db=$Get(n("Globals"))',
        ]
    body += [
        'If db\'="" Set sc=##class(Config.Databases).Get(db,.p) ' + throw_on_error("sc"),
        f'Write !,"{DB_MARK}",db,!',
        f'Write !,"{DIR_MARK}",$Get(p("Directory")),!',
    ]
    result = run_session(
        engine,
        container_id,
        body,
        namespace="%SYS",
        environment={ENV_DATABASE: database or "", ENV_NAMESPACE: namespace or ""},
        timeout=SESSION_TIMEOUT,
        what="look up the database",
    )
    zversion = next(iter(_marked(result.output, ZV_MARK)), "")
    found_db = next(iter(_marked(result.output, DB_MARK)), "")
    directory = next(iter(_marked(result.output, DIR_MARK)), "")
    # iris-envs creates a namespace's database under the same name in mgr/<name>/
    # (recipes.create_namespace): the fallback when the instance did not name them.
    name = (found_db or database or namespace or "").upper()
    directory = directory or str(MGR_DIR / name.lower())
    return Source(name, (namespace or "").upper(), directory.rstrip("/"), zversion)


def row_counts(engine: DockerEngine, container_id: str, namespace: str) -> list[FixtureTable]:
    """Rows per table seen through SQL in ``namespace``; [] when SQL is not available there."""
    query = (
        "SELECT TABLE_SCHEMA,TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE "
        "TABLE_TYPE='BASE TABLE' AND TABLE_SCHEMA NOT %STARTSWITH '%' "
        "AND TABLE_SCHEMA <> 'INFORMATION_SCHEMA'"
    )
    count = '"SELECT COUNT(*) FROM """_$Replace(s,"""","""""")_"""."""_$Replace(t,"""","""""")_""""'
    body = [
        f'Set rs=##class(%SQL.Statement).%ExecDirect(,"{query}")',
        f"For i=1:1:{MAX_TABLES} {{ Quit:'rs.%Next()  Set s=rs.%GetData(1),t=rs.%GetData(2) "
        f"Set c=##class(%SQL.Statement).%ExecDirect(,{count}) Do c.%Next() "
        f'Write !,"{TABLE_MARK}",s,".",t,":",c.%GetData(1),! }}',
    ]
    try:
        result = run_session(
            engine,
            container_id,
            body,
            namespace=namespace,
            timeout=SESSION_TIMEOUT,
            what=f"count table rows in {namespace}",
        )
    except ScriptFailed:
        return []
    tables = []
    for line in _marked(result.output, TABLE_MARK):
        match = re.match(r"^([^.:]+\.[^:]+):([0-9]+)$", line)
        if match is not None:
            tables.append(FixtureTable(match.group(1), int(match.group(2))))
    return tables


@contextlib.contextmanager
def consistent(
    engine: DockerEngine, container_id: str, directory: str, method: str
) -> Iterator[None]:
    """Hold the database still while it is copied: dismount it, or freeze the instance's writes;
    mount or thaw again afterwards, also when the copy fails or is interrupted. A copy of a live,
    mounted IRIS.DAT is not safe (iris-facts.md, "Taking a consistent copy")."""
    if method == "dismount":
        before, after = "DismountDatabase", "MountDatabase"
        start = [f"Set sc=##class(SYS.Database).{before}(path) {throw_on_error('sc')}"]
        end = [f"Set sc=##class(SYS.Database).{after}(path) {throw_on_error('sc')}"]
    else:
        start = [f"Set sc=##class(Backup.General).ExternalFreeze() {throw_on_error('sc')}"]
        end = [f"Set sc=##class(Backup.General).ExternalThaw() {throw_on_error('sc')}"]
    environment = {ENV_PATH: directory}
    prefix = [f'Set path=$system.Util.GetEnviron("{ENV_PATH}")']
    run_session(
        engine,
        container_id,
        prefix + start,
        namespace="%SYS",
        environment=environment,
        timeout=SESSION_TIMEOUT,
        what=f"{method} {directory}",
    )
    failure: BaseException | None = None
    try:
        yield
    except BaseException as error:
        failure = error
        raise
    finally:
        undo = "mount" if method == "dismount" else "thaw"
        try:
            run_session(
                engine,
                container_id,
                prefix + end,
                namespace="%SYS",
                environment=environment,
                # After a failure or Ctrl-C the user is waiting for the prompt: bounded.
                timeout=SESSION_TIMEOUT if failure is None else UNDO_TIMEOUT_AFTER_FAILURE,
                what=f"{undo} {directory} again",
            )
        except IrisEnvsError as error:
            message = f"{undo} {directory} again failed: {error}"
            if failure is None:
                raise CreateFailed(
                    f"the copy was taken, but {message}", hint=LEFT_BEHIND[method]
                ) from error
            # The first failure is what the user sees (and its exit code); this one must not be
            # lost: the instance is not as it was before `fixture create`.
            print(f"iris-envs: warning: {message}; {LEFT_BEHIND[method]}", file=sys.stderr)


def prepare_output(output: Path, force: bool) -> None:
    """Create the folder; refuse a non-empty one without ``force``. With ``force`` its manifest
    goes first, so an interrupted overwrite never leaves a folder that looks like a fixture."""
    if output.exists() and not output.is_dir():
        raise ConfigError(f"fixture create: -o {output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()):
        if not force:
            raise ConfigError(
                f"fixture create: -o {output} is not empty",
                hint="name an empty or new folder, or pass --force to overwrite the fixture there",
            )
        (output / MANIFEST_NAME).unlink(missing_ok=True)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"fixture create: cannot create {output}: {error.strerror}") from None


def write_manifest(output: Path, manifest: FixtureManifest) -> None:
    """Write manifest.json last and atomically (temporary file, fsync, rename)."""
    temporary = output / f".{MANIFEST_NAME}{PARTIAL_SUFFIX}"
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(manifest.to_json(), handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(output / MANIFEST_NAME)


def fixture_id_for(output: Path, database: str) -> str:
    """A fixture id from the folder's name (else the database's), reduced to the allowed set."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", output.resolve().name or database).strip(".-_")
    return (name or database.lower() or "fixture")[:128]


def version_text(zversion: str) -> str:
    """ "2025.1.0.123" from a $ZVERSION banner ("... 2025.1 (Build 123U) ...")."""
    numbers = iris_version_tuple(zversion)
    return ".".join(map(str, numbers)) if numbers else ""


@dataclass(frozen=True)
class CreateOptions:
    """What ``fixture create`` was asked for."""

    container_id: str
    container_name: str
    database: str | None
    namespace: str | None
    output: Path
    description: str = ""
    force: bool = False
    method: str = "dismount"


def create_fixture(
    engine: DockerEngine,
    options: CreateOptions,
    *,
    on_bytes: Callable[[int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> FixtureManifest:
    """Copy the database out consistently, hashing while it streams, then write the manifest."""
    with _exclusive(options.output):
        return _create(engine, options, on_bytes=on_bytes, on_step=on_step)


@contextlib.contextmanager
def _exclusive(output: Path) -> Iterator[None]:
    """One `fixture create` per output folder at a time: two would write the same partial file
    and could pair one copy with the other's manifest. The lock lives in the cache folder, so
    the fixture folder holds nothing but the fixture."""
    from iris_envs.cache_dir import cache_subdir

    digest = hashlib.sha256(str(output.resolve()).encode()).hexdigest()[:16]
    lock = FileLock(str(cache_subdir("locks") / f"fixture-create-{digest}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ConfigError(
            f"fixture create: another iris-envs process is writing a fixture into {output}",
            hint="wait for it to finish, or name another folder with -o",
        ) from None
    try:
        yield
    finally:
        lock.release()


def _create(
    engine: DockerEngine,
    options: CreateOptions,
    *,
    on_bytes: Callable[[int], None] | None,
    on_step: Callable[[str], None] | None,
) -> FixtureManifest:
    say = on_step or (lambda text: None)
    output = options.output
    prepare_output(output, options.force)
    source = probe(engine, options.container_id, options.database, options.namespace)
    if not version_text(source.zversion):
        raise CreateFailed(
            f"container {options.container_name} did not report an IRIS version "
            f"($ZVERSION was {source.zversion!r}): is it an IRIS instance?"
        )
    if options.method == "dismount" and source.database in INSTANCE_DATABASES:
        raise ConfigError(
            f"fixture create: {source.database} is one of the instance's own databases: "
            "dismounting it would pull it from under the running instance",
            hint="name the database that holds your data (--database, or --namespace for its "
            "globals database), or copy it under --method freeze",
        )
    tables: list[FixtureTable] = []
    if source.namespace:
        say(f"counting table rows in {source.namespace}")
        tables = row_counts(engine, options.container_id, source.namespace)
    partial = output / f".{DAT_FILE}{PARTIAL_SUFFIX}"
    ours = [partial, output / f".{MANIFEST_NAME}{PARTIAL_SUFFIX}"]  # removed on a failure
    say(f"copying {source.directory}/{DAT_FILE} ({options.method})")
    try:
        with consistent(engine, options.container_id, source.directory, options.method):
            try:
                found = engine.copy_out(
                    options.container_id,
                    source.directory,
                    output,
                    names=[DAT_FILE],
                    on_bytes=on_bytes,
                    rename={DAT_FILE: partial.name},
                )
            except NotFoundInEngine:
                found = {}
        if DAT_FILE not in found:
            raise CreateFailed(
                f"no {DAT_FILE} in {source.directory} in container {options.container_name}",
                hint="name the database with --database (or its namespace with --namespace)",
            )
        partial.replace(output / DAT_FILE)
        ours.append(output / DAT_FILE)
        manifest = _manifest(options, source, found[DAT_FILE], tables)
        write_manifest(output, manifest)
    except BaseException as error:
        # No manifest, no fixture: nothing of this attempt stays (gigabytes on a full disk).
        for leftover in ours:
            with contextlib.suppress(OSError):  # a read-only folder: EROFS even when missing
                leftover.unlink(missing_ok=True)
        if isinstance(error, OSError):  # renaming or the manifest, on the host
            raise OutputFolderError(
                f"fixture create: cannot write the fixture into {output}: "
                f"{error.strerror or error}",
                hint="free space there, make it writable, or name another folder with -o",
            ) from None
        raise
    return manifest


def _manifest(
    options: CreateOptions,
    source: Source,
    copied: tuple[int, str],
    tables: list[FixtureTable],
) -> FixtureManifest:
    size, digest = copied
    output = options.output
    return FixtureManifest(
        fixture_id=fixture_id_for(output, source.database),
        version="1",
        description=options.description,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        iris_version=version_text(source.zversion),
        source_namespace=source.namespace,
        source_database=source.database,
        files=(FixtureFile(DAT_FILE, size, digest),),
        tables=tuple(tables),
        features={
            "zversion": source.zversion,
            "consistent_copy": options.method,
            "source_directory": source.directory,
        },
    )
