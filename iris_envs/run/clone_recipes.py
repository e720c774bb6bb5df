"""What a clone namespace is made of, and the container-side steps that make, reset and drop one.

A clone of namespace NS is namespace ``NS_C<k>`` whose databases are copies of every database NS
can write: its default globals database, its default routines database, and each database its
global and package mappings name (a restored fixture, mapped into NS, is written through those
mappings too). The instance's own databases (IRISLIB, ENSLIB, ...) are shared, never copied: they
are code the instance ships. The copies are taken from a pristine copy of each database, made
once while the database is dismounted (a copy of a mounted IRIS.DAT is not safe, Data Integrity
Guide), and never mounted itself, so no test ever writes to it.

Like a restore (Data Integrity Guide, "restore to a different system"): the copied IRIS.DAT is
owned by irisowner, added to the configuration (Config.Databases), mounted (SYS.Database), and
the namespace is created with the same defaults and mappings as NS, pointing at the copies
(Config.Namespaces, Config.MapGlobals, Config.MapPackages; class reference).
"""

from __future__ import annotations

from dataclasses import dataclass

from iris_envs.config.databases import MGR_DIR, SYSTEM_DATABASES
from iris_envs.fixtures.mapping import NamespaceConfig
from iris_envs.instance.objectscript import throw_on_error

CLONES_DIR = MGR_DIR / "iris-envs-clones"
PRISTINE_DIR = CLONES_DIR / "pristine"
# Several pytest processes may share one container (`iris-envs run -- pytest -n 2`: every worker
# reads the same IRIS_ENVS_CONTAINER). They coordinate inside it, with what any POSIX shell has:
# `mkdir` is atomic, so a clone's number is the folder a process managed to create, and the
# pristine copies are taken by whichever process holds the lock folder first, once.
PRISTINE_LOCK = CLONES_DIR / "pristine.lock"
PRISTINE_DONE = PRISTINE_DIR / ".complete"
PRISTINE_EXISTS = "IRIS_ENVS_PRISTINE_EXISTS"
LOCK_WAIT_SECONDS = 600
ENV_COUNT = "IRIS_ENVS_CLONE_COUNT"
ENV_ITEM = "IRIS_ENVS_CLONE_"


@dataclass(frozen=True)
class SourceDatabase:
    """One database of the source namespace that every clone gets a copy of."""

    name: str
    directory: str  # with its trailing slash, as iris.cpf writes it


@dataclass(frozen=True)
class CloneSource:
    """The source namespace as its clones must reproduce it (names upper-case)."""

    namespace: str
    globals_db: str
    routines_db: str
    global_maps: tuple[tuple[str, str], ...]  # (global name or prefix*, database)
    package_maps: tuple[tuple[str, str], ...]  # (package, database)
    copied: tuple[SourceDatabase, ...]  # the databases a clone has its own copy of

    def copied_names(self) -> set[str]:
        return {database.name for database in self.copied}


def clone_source(config: NamespaceConfig, directories: dict[str, str]) -> CloneSource:
    """The databases a clone copies: every one the namespace can write, in a stable order."""
    global_maps, package_maps = dict(config.global_maps), dict(config.package_maps)
    names = [config.globals_db, config.routines_db, *global_maps.values(), *package_maps.values()]
    copied = []
    for name in dict.fromkeys(names):
        if name in SYSTEM_DATABASES - {"USER", "HSCUSTOM"} or name not in directories:
            continue  # the instance's own code databases are shared, never copied
        copied.append(SourceDatabase(name, directories[name]))
    return CloneSource(
        config.name,
        config.globals_db,
        config.routines_db,
        tuple(sorted(global_maps.items())),
        tuple(sorted(package_maps.items())),
        tuple(copied),
    )


def clone_namespace(source: CloneSource, number: int) -> str:
    """The clone's namespace: ``<NS>_C<k>`` (at most 64 characters, as namespace names are)."""
    suffix = f"_C{number}"
    return source.namespace[: 64 - len(suffix)] + suffix


def clone_database(name: str, number: int) -> str:
    suffix = f"_C{number}"
    return name[: 64 - len(suffix)] + suffix


def clone_directory(name: str, number: int) -> str:
    return f"{CLONES_DIR}/{number}/{name.lower()}/"


def pristine_directory(name: str) -> str:
    return f"{PRISTINE_DIR}/{name.lower()}/"


def clone_pairs(source: CloneSource, numbers: list[int]) -> list[tuple[str, str]]:
    """(pristine directory, clone directory) of every copied database of each clone."""
    return [
        (pristine_directory(d.name), clone_directory(d.name, number))
        for number in numbers
        for d in source.copied
    ]


# Every copy (pristine and clone) gets this modification time, a fixed instant long past. Any
# later write to the file moves its mtime to the present (POSIX write() and ftruncate() "shall mark
# for update the last data modification and last file status change timestamps"), so at a reset,
# with the clone dismounted (IRIS has written out its buffers and closed the file), a copy whose
# mtime is still the fixed one holds the pristine content, and is not copied again: a fixture
# database that the tests only read costs no copy. `touch -t` and the shell's `test -nt` are
# POSIX (coreutils and dash in the Ubuntu-based images, busybox in the stand-in).
COPY_MTIME = "197001020000"


def copy_command(pairs: list[tuple[str, str]]) -> list[str]:
    """A shell command (as irisowner, so the copies are irisowner's) copying each ``IRIS.DAT``
    from one directory to another with COPY_MTIME: a pristine copy gets it with `touch -t`, a
    clone's from its pristine with `cp -p` (POSIX: keeps the source's times; one process)."""
    parts = [
        f'mkdir -p "{target}" && cp "{source}IRIS.DAT" "{target}IRIS.DAT"'
        f' && touch -t {COPY_MTIME} "{target}IRIS.DAT"'
        if target.startswith(f"{PRISTINE_DIR}/")
        else f'mkdir -p "{target}" && cp -p "{source}IRIS.DAT" "{target}IRIS.DAT"'
        for source, target in pairs
    ]
    return ["sh", "-c", " && ".join(parts) if parts else "true"]


def refresh_script(pairs: list[tuple[str, str]]) -> str:
    """Shell lines that copy each pristine ``IRIS.DAT`` over a clone's (``cp -p``: with the
    pristine's COPY_MTIME), unless the clone's still has COPY_MTIME (no write since its last
    copy): "not newer than the pristine" means unwritten. Stops at the first failed copy."""
    lines = []
    for source, target in pairs:
        pristine, clone = f'"{source}IRIS.DAT"', f'"{target}IRIS.DAT"'
        lines.append(
            f"if [ -f {clone} ] && ! [ {clone} -nt {pristine} ]; then :; else "
            f"cp -p {pristine} {clone} || exit 1; fi"
        )
    return "\n".join(lines)


def mount_state_body(mount: bool) -> list[str]:
    """ObjectScript (in %SYS) that mounts or dismounts each directory in $IRIS_ENVS_CLONE_<i>.

    Mounting asks ``Mounted`` first: MountDatabase of a mounted database is an error status
    (SYS.Database class reference; intersystems/ipm asks the same before remounting)."""
    if mount:
        action = (
            "Set o=##class(SYS.Database).%OpenId(d) "
            "If $IsObject(o),'o.Mounted { Set sc=##class(SYS.Database).MountDatabase(d) "
            + throw_on_error("sc")
            + " }"
        )
    else:
        action = "Set sc=##class(SYS.Database).DismountDatabase(d) " + throw_on_error("sc")
    return [
        f'Set n=+$system.Util.GetEnviron("{ENV_COUNT}")',
        f'For i=1:1:n {{ Set d=$system.Util.GetEnviron("{ENV_ITEM}"_i) {action} }}',
    ]


def number_command(count: int) -> list[str]:
    """A shell command that claims the ``count`` lowest free clone numbers in the container
    (creating each one's folder, atomically) and prints them, one per line."""
    return [
        "sh",
        "-c",
        f'mkdir -p "{CLONES_DIR}" && k=1 && for _ in $(seq {count}); do '
        f'while ! mkdir "{CLONES_DIR}/$k" 2>/dev/null; do k=$((k+1)); done; echo "$k"; done',
    ]


def pristine_command(dismount: str, pairs: list[tuple[str, str]], mount: str) -> list[str]:
    """The reset_command that takes the pristine copies, run by one process per container: under
    a lock folder, and not at all when another process took them already (then it prints
    PRISTINE_EXISTS)."""
    take = reset_command(dismount, pairs, mount)[2]
    return [
        "sh",
        "-c",
        f'mkdir -p "{CLONES_DIR}" && n=0 && '
        f'while ! mkdir "{PRISTINE_LOCK}" 2>/dev/null; do n=$((n+1)); '
        f'if [ $n -gt {LOCK_WAIT_SECONDS} ]; then echo "{PRISTINE_LOCK} is still held after '
        f'{LOCK_WAIT_SECONDS} s"; exit 1; fi; sleep 1; done\n'
        f"trap 'rmdir \"{PRISTINE_LOCK}\"' EXIT\n"
        f'if [ -f "{PRISTINE_DONE}" ]; then echo {PRISTINE_EXISTS}; exit 0; fi\n'
        f'{take}[ $? -eq 0 ] && touch "{PRISTINE_DONE}"\n',
    ]


def reset_command(
    dismount: str, pairs: list[tuple[str, str]], mount: str, *, instance: str = "IRIS"
) -> list[str]:
    """One shell command that dismounts (session script ``dismount``), copies, then mounts:
    how the pristine copies are taken, once per container (clones are reset with one session,
    reset_session_command). Whatever was dismounted is mounted again, even when a copy failed
    (the command then fails: the copy's message is in the output)."""
    copies = copy_command(pairs)[2]
    session = f"iris session {instance} -U %SYS"
    return [
        "sh",
        "-c",
        f"{session} <<'IRIS_ENVS_DISMOUNT'\n{dismount}IRIS_ENVS_DISMOUNT\n"
        "if [ $? -eq 0 ]; then\n"
        f"{copies}\ncopied=$?\n"
        f"{session} <<'IRIS_ENVS_MOUNT'\n{mount}IRIS_ENVS_MOUNT\n"
        '[ $? -eq 0 ] && [ "$copied" -eq 0 ]\n'
        "else false; fi\n",
    ]


ENV_COPY_SCRIPT = "IRIS_ENVS_CLONE_COPY"
COPY_EXIT = "IRIS-ENVS-COPY-EXIT="


def reset_body() -> list[str]:
    """ObjectScript (in %SYS) for a whole reset in ONE session: dismount the directories in
    $IRIS_ENVS_CLONE_<i>, run the copy script $IRIS_ENVS_CLONE_COPY, mount them again, whatever
    the copy did (its exit code is written after COPY_EXIT for the caller to judge).

    The copy runs as a child of the session with ``$ZF(-100,"","/bin/sh",script)``: synchronously,
    without a shell, returning the program's exit code (-1 when it cannot start); the child
    inherits the session's descriptors, so a ``cp`` error lands in the transcript (ObjectScript
    reference, $ZF(-100), RCOS_fzf-100; "Running Programs or System Commands with $ZF(-100)",
    BGCL_syscall). It needs the %System_Callout:USE privilege, which the instance owner's %All
    role holds. The script's path has no blank, so $ZF(-100)'s automatic quoting cannot change
    it. One session start instead of two per batch: the fixed cost of a reset."""
    copy = (
        f'Set rc=$ZF(-100,"","/bin/sh",$system.Util.GetEnviron("{ENV_COPY_SCRIPT}")) '
        f'Write !,"{COPY_EXIT}",rc,!'
    )
    return [*mount_state_body(False), copy, *mount_state_body(True)]


def reset_session_command(script: str, pairs: list[tuple[str, str]]) -> list[str]:
    """The shell command of a one-session reset: write the copies (refresh_script) to a private
    script file, run the session ``script`` (reset_body, wrapped) that dismounts, runs it and
    mounts, remove it."""
    copies = refresh_script(pairs)
    return [
        "sh",
        "-c",
        f'mkdir -p "{CLONES_DIR}" && f=$(mktemp "{CLONES_DIR}/copy.XXXXXX") || exit 1\n'
        f"cat >\"$f\" <<'IRIS_ENVS_COPY'\n{copies}\nIRIS_ENVS_COPY\n"
        f'export {ENV_COPY_SCRIPT}="$f"\n'
        f"iris session IRIS -U %SYS <<'IRIS_ENVS_RESET'\n{script}IRIS_ENVS_RESET\n"
        'status=$?\nrm -f "$f"\nexit $status\n',
    ]


def directories_environment(directories: list[str]) -> dict[str, str]:
    environment = {ENV_COUNT: str(len(directories))}
    environment.update({f"{ENV_ITEM}{i}": d for i, d in enumerate(directories, 1)})
    return environment


def _names(prefix: str) -> dict[str, str]:
    """The exec variable names of one clone's create_body, under its own ``prefix``."""
    return {
        key: prefix + key
        for key in ("COUNT", "NS", "GLOBALS", "ROUTINES", "MAP_COUNT", "ITEM_", "MAP_")
    }


def create_prefix(number: int) -> str:
    return f"IRIS_ENVS_NEW{number}_"


def create_body(number: int) -> list[str]:
    """ObjectScript (in %SYS) that adds and mounts clone ``number``'s copied databases (each
    "NAME|directory"), creates its namespace with the source's defaults, and recreates the
    source's mappings (each "G|name|database" or "P|package|database"), from the variables
    create_environment gives it. Bodies of several clones run one after another in one session.
    """
    v = _names(create_prefix(number))
    return [
        f'Set n=+$system.Util.GetEnviron("{v["COUNT"]}")',
        f'For i=1:1:n {{ Set e=$system.Util.GetEnviron("{v["ITEM_"]}"_i),db=$Piece(e,"|",1),'
        'd=$Piece(e,"|",2) Kill p Set p("Directory")=d '
        "If '##class(Config.Databases).Exists(db) { "
        f"Set sc=##class(Config.Databases).Create(db,.p) {throw_on_error('sc')} }} "
        "Set o=##class(SYS.Database).%OpenId(d) "
        "If $IsObject(o),'o.Mounted { "
        f"Set sc=##class(SYS.Database).MountDatabase(d) {throw_on_error('sc')} }} }}",
        f'Set ns=$system.Util.GetEnviron("{v["NS"]}")',
        f'Kill q Set q("Globals")=$system.Util.GetEnviron("{v["GLOBALS"]}")',
        f'Set q("Routines")=$system.Util.GetEnviron("{v["ROUTINES"]}")',
        "If '##class(Config.Namespaces).Exists(ns) { "
        f"Set sc=##class(Config.Namespaces).Create(ns,.q) {throw_on_error('sc')} }}",
        f'Set m=+$system.Util.GetEnviron("{v["MAP_COUNT"]}")',
        f'For i=1:1:m {{ Set e=$system.Util.GetEnviron("{v["MAP_"]}"_i),k=$Piece(e,"|",1),'
        'name=$Piece(e,"|",2) Kill r Set r("Database")=$Piece(e,"|",3) '
        'If k="G",\'##class(Config.MapGlobals).Exists(ns,name) { '
        f"Set sc=##class(Config.MapGlobals).Create(ns,name,.r) {throw_on_error('sc')} }} "
        'If k="P",\'##class(Config.MapPackages).Exists(ns,name) { '
        f"Set sc=##class(Config.MapPackages).Create(ns,name,.r) {throw_on_error('sc')} }} }}",
    ]


def create_environment(source: CloneSource, number: int) -> dict[str, str]:
    """The exec variables of create_body(number)."""
    v = _names(create_prefix(number))
    copied = source.copied_names()

    def target(database: str) -> str:
        return clone_database(database, number) if database in copied else database

    items = [
        f"{clone_database(db.name, number)}|{clone_directory(db.name, number)}"
        for db in source.copied
    ]
    maps = [f"G|{name}|{target(db)}" for name, db in source.global_maps]
    maps += [f"P|{name}|{target(db)}" for name, db in source.package_maps]
    environment = {
        v["COUNT"]: str(len(items)),
        v["NS"]: clone_namespace(source, number),
        v["GLOBALS"]: target(source.globals_db),
        v["ROUTINES"]: target(source.routines_db),
        v["MAP_COUNT"]: str(len(maps)),
    }
    environment.update({f"{v['ITEM_']}{i}": item for i, item in enumerate(items, 1)})
    environment.update({f"{v['MAP_']}{i}": item for i, item in enumerate(maps, 1)})
    return environment
