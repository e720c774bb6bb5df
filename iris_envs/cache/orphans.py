"""Find and remove containers whose iris-envs owner process is gone (no orphans survive)."""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
import sys
from contextlib import suppress
from pathlib import Path

from iris_envs import naming
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ContainerInfo, ImageInfo
from iris_envs.errors import IrisEnvsError

# `up` containers outlive their process on purpose; `iris-envs down` removes them.
LONG_LIVED_ROLES = frozenset({"up"})
# A container kept on request (--keep, --keep-on-failure, --keep-failed) is renamed with this
# prefix (labels cannot change after creation): it stays until `down` or `docker rm`.
KEPT_PREFIX = "iris-envs-kept-"
# What iris-envs made for a process it cannot ask (another machine, another PID namespace, a
# boot ago) is left alone this long: a container since its creation, an untagged snapshot
# since its commit (its build may still be verifying it). Documented in docs/running.md.
UNDECIDABLE_OWNER_BOUND = dt.timedelta(days=1)
OTHER_HOST_BUILD_GRACE = UNDECIDABLE_OWNER_BOUND


@functools.lru_cache(maxsize=1)
def process_space() -> str:
    """Where this process's pid names this process: "<boot id>/<pid namespace>" on Linux.

    A pid is asked about (os.kill(pid, 0)) in the asker's PID namespace and boot: an owner in a
    container, under `unshare --pid`, or on another machine of the same host name sharing the
    engine has a pid that means nothing, or another process, here (issue 22). The boot id is
    the kernel's per-boot random UUID (proc(5): /proc/sys/kernel/random/boot_id), the namespace
    its inode in /proc/self/ns/pid (namespaces(7): equal for processes in the same namespace).
    "" where they do not exist (macOS, Windows: no PID namespaces; the host name is all there is).
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = str(Path("/proc/self/ns/pid").readlink())  # "pid:[4026531836]"
    except (OSError, UnicodeDecodeError):
        return ""
    inode = namespace.removeprefix("pid:").strip("[]")
    return f"{boot}/{inode}" if boot and inode.isdigit() else ""


def _owner_askable(owner_host: str | None, owner_space: str, host: str, space: str) -> bool:
    """Whether this process can tell if the owner's pid is alive: the same host name and the
    same owner space (both "" off Linux: the host name decides, as it always did)."""
    return owner_host == host and owner_space == space


def _older_than(created: str, bound: dt.timedelta, now: dt.datetime | None = None) -> bool:
    """Whether an engine time ("2026-12-04T13:12:25.123456789Z") is more than ``bound`` ago."""
    try:
        when = dt.datetime.strptime(created[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False  # unknown: keep it
    now = now or dt.datetime.now(dt.timezone.utc)
    return now - when.replace(tzinfo=dt.timezone.utc) > bound


def _process_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _windows_process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs, asked of Windows itself.

    Never ``os.kill(pid, 0)`` there: 0 is CTRL_C_EVENT, sent to the process group ``pid``
    (CPython's os.kill documentation: CTRL_C_EVENT and CTRL_BREAK_EVENT are console events,
    any other value terminates the process).
    """
    if sys.platform != "win32":  # (also tells mypy that what follows is Windows-only)
        raise NotImplementedError("a Windows API")
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    query_limited_information, still_active, access_denied = 0x1000, 259, 5
    handle = kernel32.OpenProcess(query_limited_information, False, pid)
    if not handle:
        return bool(ctypes.get_last_error() == access_denied)
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True  # cannot tell: keep its containers rather than remove a live run's
        return code.value == still_active
    finally:
        kernel32.CloseHandle(handle)


def is_orphan(
    container: ContainerInfo,
    host: str | None = None,
    space: str | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """True for a managed, short-lived container whose owner process has provably exited: it is
    askable from here (same host name and owner space) and not alive. An owner that cannot be
    asked keeps its container for UNDECIDABLE_OWNER_BOUND from the container's creation."""
    labels = container.labels
    if labels.get(naming.LABEL_MANAGED) != "true":
        return False
    if labels.get(naming.LABEL_ROLE) in LONG_LIVED_ROLES or container.name.startswith(KEPT_PREFIX):
        return False
    space = space if space is not None else process_space()
    pid, owner_space, here = _owner(container, space)
    if pid is None:
        return False
    host = host if host is not None else socket.gethostname()
    if not _owner_askable(labels.get(naming.LABEL_OWNER_HOST), owner_space, host, here):
        return _older_than(container.created, UNDECIDABLE_OWNER_BOUND, now)
    return pid != os.getpid() and not _process_alive(pid)


def _owner(container: ContainerInfo, space: str) -> tuple[int | None, str, str]:
    """The pid that owns ``container``, its space and this process's (``space``) as the
    container records them; pid None: no owner to outlive (an available spare, a bad label)."""
    labels = container.labels
    if labels.get(naming.LABEL_ROLE) == naming.SPARE_ROLE:
        # An available spare outlives the run that started it (gc's age rule removes it); a
        # claimed one belongs to the process whose pid (and space tag) its name carries.
        claimant = naming.spare_claimant_pid(labels, container.name)
        return claimant, naming.spare_claimant_space_tag(container.name), naming.space_tag(space)
    owner = labels.get(naming.LABEL_OWNER_PID, "")
    pid = int(owner) if owner.isascii() and owner.isdigit() else None
    return pid, labels.get(naming.LABEL_OWNER_SPACE, ""), space


def collect_orphans(engine: DockerEngine, *, dry_run: bool = False) -> list[ContainerInfo]:
    """Remove every orphaned container (``dry_run``: none); return what was (would be) removed."""
    removed = []
    for container in engine.containers_by_label({naming.LABEL_MANAGED: "true"}):
        if is_orphan(container):
            if dry_run:
                removed.append(container)
                continue
            with suppress(IrisEnvsError):
                engine.remove_container(container.id)
                removed.append(container)
    return removed


def collect_untagged_snapshots(engine: DockerEngine, *, dry_run: bool = False) -> list[ImageInfo]:
    """Remove iris-envs snapshot images that have no tag and that no container uses.

    A build killed between commit and tag, ``build --rebuild`` while a container still used the
    snapshot it replaced (the engine refused that removal) and concurrent builds of one key leave
    such images; nothing else would ever remove them.
    """
    if dry_run:
        return untagged_snapshots(engine)
    removed = []
    for image in untagged_snapshots(engine):
        with suppress(IrisEnvsError):  # e.g. the parent of another image: it stays
            engine.remove_image(image.id)
            removed.append(image)
    return removed


def untagged_snapshots(engine: DockerEngine) -> list[ImageInfo]:
    """Snapshot images with no tag, no container using them and no live build owning them."""
    in_use = engine.image_ids_in_use()
    return [
        image
        for image in engine.images_by_label(
            {naming.LABEL_MANAGED: "true", naming.LABEL_ROLE: "snapshot"}
        )
        if not image.tags and image.id not in in_use and not build_in_progress(image)
    ]


def build_in_progress(image: ImageInfo, host: str | None = None, space: str | None = None) -> bool:
    """Whether an untagged snapshot may still be a build's, between its commit and its tag.

    That window (removing the build container, then verifying) is seconds long, and another
    project's `gc` must not take the image out from under the build. A builder this process can
    ask (same host name and owner space) is asked directly; any other is trusted for a day.
    """
    labels = image.labels
    builder_host, _, pid = labels.get(naming.LABEL_BUILT_BY, "").rpartition(":")
    if not builder_host or not pid.isdigit():
        return False  # built before the label existed
    host = host if host is not None else socket.gethostname()
    space = space if space is not None else process_space()
    if _owner_askable(builder_host, labels.get(naming.LABEL_BUILT_IN, ""), host, space):
        return _process_alive(int(pid))
    try:
        created = dt.datetime.fromisoformat(labels.get(naming.LABEL_CREATED, ""))
    except ValueError:
        return False
    if created.tzinfo is None:  # iris-envs writes UTC with an offset; a bare time is UTC too
        created = created.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.now(dt.timezone.utc) - created < OTHER_HOST_BUILD_GRACE


def keep_container(engine: DockerEngine, container_id: str, name: str) -> str:
    """Mark a container as kept by renaming it; return the name to tell the user."""
    kept = KEPT_PREFIX + name.removeprefix("iris-envs-")
    try:
        engine.rename(name, kept)
    except IrisEnvsError:
        return name  # still there under its old name: better kept unmarked than removed
    return kept


def inspect_hint(engine: DockerEngine, container_id: str, name: str) -> str:
    """How to get into a kept container, depending on whether it still runs."""
    info = engine.inspect_container(container_id)
    docker = " ".join(["docker", *engine.endpoint.cli_args()])  # the engine iris-envs chose
    session = f"{docker} exec -it {name} iris session IRIS"
    if info is not None and info.running:
        return session
    return f"{docker} start {name} && {session}"
