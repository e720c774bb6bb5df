"""Find and remove containers whose iris-envs owner process is gone (no orphans survive)."""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys
from contextlib import suppress

from iris_envs import naming
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ContainerInfo, ImageInfo
from iris_envs.errors import IrisEnvsError

# `up` containers outlive their process on purpose; `iris-envs down` removes them.
LONG_LIVED_ROLES = frozenset({"up"})
# A container kept on request (--keep, --keep-on-failure, --keep-failed) is renamed with this
# prefix (labels cannot change after creation): it stays until `down` or `docker rm`.
KEPT_PREFIX = "iris-envs-kept-"
# An untagged snapshot another host's process committed is left alone this long (its build may
# still be verifying it); its process cannot be asked from here.
OTHER_HOST_BUILD_GRACE = dt.timedelta(days=1)


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


def is_orphan(container: ContainerInfo, host: str | None = None) -> bool:
    """True for a managed, short-lived container whose owner process on this host has exited."""
    labels = container.labels
    if labels.get(naming.LABEL_MANAGED) != "true":
        return False
    if labels.get(naming.LABEL_ROLE) in LONG_LIVED_ROLES or container.name.startswith(KEPT_PREFIX):
        return False
    if labels.get(naming.LABEL_OWNER_HOST) != (host or socket.gethostname()):
        return False  # another machine's process (shared engine via DOCKER_HOST): not ours to judge
    if labels.get(naming.LABEL_ROLE) == naming.SPARE_ROLE:
        # An available spare outlives the run that started it (gc's age rule removes it); a
        # claimed one belongs to the process whose pid its name carries.
        claimant = naming.spare_claimant_pid(labels, container.name)
        return claimant is not None and claimant != os.getpid() and not _process_alive(claimant)
    try:
        pid = int(labels.get(naming.LABEL_OWNER_PID, ""))
    except ValueError:
        return False
    return pid != os.getpid() and not _process_alive(pid)


def collect_orphans(engine: DockerEngine) -> list[ContainerInfo]:
    """Remove every orphaned container; return what was removed."""
    removed = []
    for container in engine.containers_by_label({naming.LABEL_MANAGED: "true"}):
        if is_orphan(container):
            with suppress(IrisEnvsError):
                engine.remove_container(container.id)
                removed.append(container)
    return removed


def collect_untagged_snapshots(engine: DockerEngine) -> list[ImageInfo]:
    """Remove iris-envs snapshot images that have no tag and that no container uses.

    A build killed between commit and tag, ``build --rebuild`` while a container still used the
    snapshot it replaced (the engine refused that removal) and concurrent builds of one key leave
    such images; nothing else would ever remove them.
    """
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


def build_in_progress(image: ImageInfo, host: str | None = None) -> bool:
    """Whether an untagged snapshot may still be a build's, between its commit and its tag.

    That window (removing the build container, then verifying) is seconds long, and another
    project's `gc` must not take the image out from under the build. A builder on this host is
    asked directly; one on another host (a shared engine) is trusted for a day.
    """
    built_by = image.labels.get(naming.LABEL_BUILT_BY, "")
    builder_host, _, pid = built_by.rpartition(":")
    if not builder_host or not pid.isdigit():
        return False  # built before the label existed
    if builder_host == (host or socket.gethostname()):
        return _process_alive(int(pid))
    try:
        created = dt.datetime.fromisoformat(image.labels.get(naming.LABEL_CREATED, ""))
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
