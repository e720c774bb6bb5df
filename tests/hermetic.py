"""What the test suite must leave as it found it: the engine's images and containers that are not
the suite's own, and the files of the user's cache folder (issue 23, item 7).

A developer runs the suite on the engine their other projects use. Everything there at the start
that is not a test artefact must still be there at the end, with every tag it had. Test artefacts
are recognised by what they are made of, so that another checkout's suite running at the same
time (its artefacts come and go) is no false alarm: stand-in images (their ``standin-hash``
label, or an ``iris-envs-<prefix>/`` repository: the suite's image namespace), snapshots built on
them or in a pytest temporary folder, images and containers carrying the ``org.iris-envs.test``
label, and containers of such images or projects. What ``iris-envs gc`` would remove anyway
(containers of dead iris-envs processes, stale spares, untagged snapshots nothing uses) is not
counted either: any ``iris-envs run`` removes it.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STANDIN_LABEL = "org.iris-envs.standin-hash"  # tests/standin/build.py HASH_LABEL
# tests/standin/build.py PREFIX, any checkout; Podman lists the names qualified with their
# registry (docker.io/iris-envs-test/..., localhost/...), Docker does not.
TEST_NAMESPACE = re.compile(r"(?:docker\.io/|localhost/)?iris-envs-[^/:]+/")
TEST_LABEL = "org.iris-envs.test"  # tests/conftest.py cleanup_label
PYTEST_TEMP = "/pytest-of-"  # pytest's basetemp: /tmp/pytest-of-<user>/pytest-<n>/


def _docker(*args: str, tries: int = 1) -> str:
    for attempt in range(tries):
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, check=False, timeout=120
        )
        if done.returncode == 0:
            return done.stdout
        if attempt + 1 < tries:
            time.sleep(0.5 * (attempt + 1))
    return ""


def _list(*args: str) -> list[str]:
    """A listing (`images -q`, `ps -q`), asked again when it fails: Podman before 4.6 fails one
    while another process removes an image (podman PR #18980); an empty answer would make
    everything look removed."""
    return _docker(*args, tries=5).split()


def _inspect(kind: str, ids: Iterable[str]) -> list[dict[str, Any]]:
    ids = sorted(set(ids))
    if not ids:
        return []
    # One call per 200 ids keeps the command line short. An id removed meanwhile (another
    # worker's test artefact) fails its whole call; then each id of it is asked alone, so only
    # the removed one is missing, not the 199 others.
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), 200):
        batch = ids[start : start + 200]
        answer = _docker(kind, "inspect", *batch)
        if answer:
            found += json.loads(answer)
            continue
        for one in batch:
            found += json.loads(_docker(kind, "inspect", one, tries=2) or "[]")
    return found


@dataclass
class Inventory:
    """The engine's images (id -> tags) and containers (id -> name) that the suite must keep."""

    images: dict[str, set[str]] = field(default_factory=dict)
    containers: dict[str, str] = field(default_factory=dict)
    cache: dict[str, tuple[int, int]] = field(default_factory=dict)  # path -> size, mtime_ns

    def missing_from(self, later: Inventory) -> list[str]:
        """What was here and is gone (or lost a tag) in ``later``; empty when nothing is."""
        problems = []
        for image_id, tags in sorted(self.images.items()):
            if image_id not in later.images:
                problems.append(f"image {image_id[7:19]} ({', '.join(sorted(tags)) or 'untagged'})")
            elif tags - later.images[image_id]:
                lost = ", ".join(sorted(tags - later.images[image_id]))
                problems.append(f"image {image_id[7:19]} lost its tag(s) {lost}")
        for container_id, name in sorted(self.containers.items()):
            if container_id not in later.containers:
                problems.append(f"container {name} ({container_id[:12]})")
        # Removed only: the suite cannot write there (conftest.py points every call elsewhere),
        # while the user's own iris-envs, running meanwhile, may update or add files.
        problems += [f"cache file {p}" for p in sorted(set(self.cache) - set(later.cache))]
        return problems


def _is_test_image(image: Mapping[str, Any], artefacts: set[str]) -> bool:
    labels = (image.get("Config") or {}).get("Labels") or {}
    if STANDIN_LABEL in labels or TEST_LABEL in labels:
        return True
    # Test images (the stand-in's imported root filesystem, helper images) carry no label: they
    # live in the suite's namespace, `iris-envs-<prefix>/` (IRIS_ENVS_STANDIN_PREFIX).
    if any(TEST_NAMESPACE.match(tag) for tag in image.get("RepoTags") or ()):
        return True
    if PYTEST_TEMP in labels.get("org.iris-envs.origin-project", ""):
        return True
    if labels.get("org.iris-envs.base-image", "") in artefacts:
        return True
    return bool(image.get("Parent")) and str(image.get("Parent")) in artefacts  # build layers


def _is_test_container(container: Mapping[str, Any], artefacts: set[str]) -> bool:
    labels = (container.get("Config") or {}).get("Labels") or {}
    if TEST_LABEL in labels or PYTEST_TEMP in labels.get("org.iris-envs.project", ""):
        return True
    return str(container.get("Image", "")) in artefacts


def _dead(container: Mapping[str, Any]) -> bool:
    """A container `iris-envs gc` would remove: its iris-envs process is gone, or a stale spare."""
    from iris_envs.cache.orphans import is_orphan
    from iris_envs.engine.types import ContainerInfo
    from iris_envs.run.spares import SPARE_ROLE, is_available, spare_max_age, stale_reason

    labels = (container.get("Config") or {}).get("Labels") or {}
    state = container.get("State") or {}
    info = ContainerInfo(
        id=str(container["Id"]),
        name=str(container.get("Name", "")).lstrip("/"),
        image=str((container.get("Config") or {}).get("Image", "")),
        status=str(state.get("Status", "")),
        running=bool(state.get("Running")),
        exit_code=None,
        labels=dict(labels),
        ports={},
        health=None,
    )
    if is_orphan(info):
        return True
    if labels.get("org.iris-envs.role") != SPARE_ROLE or not is_available(info):
        return False
    return bool(stale_reason(info, None, spare_max_age(info), time.time()))


def _cache_files(folder: Path) -> dict[str, tuple[int, int]]:
    files = {}
    for path in folder.rglob("*") if folder.is_dir() else ():
        if path.is_file() and not path.name.endswith(".lock"):
            stat = path.stat()
            files[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return files


def take_inventory(cache: Path | None) -> Inventory:
    """The engine's non-test, living images and containers, and the files of ``cache``."""
    top_level = set(_list("images", "-q", "--no-trunc"))
    # With the intermediate images of classic `docker build`s, to follow their Parent chains.
    every = _inspect("image", _list("images", "-aq", "--no-trunc"))
    images = [i for i in every if str(i["Id"]) in top_level]
    artefacts: set[str] = set()
    changed = True
    while changed:  # snapshots of snapshots of the stand-in, build layers: to a fixed point
        before = len(artefacts)
        artefacts |= {str(i["Id"]) for i in every if _is_test_image(i, artefacts)}
        changed = len(artefacts) != before
    in_use = set()
    containers = _inspect("container", _list("ps", "-aq", "--no-trunc"))
    for container in containers:
        in_use.add(str(container.get("Image", "")))
    kept_images = {}
    for image in images:
        image_id = str(image["Id"])
        tags = set(image.get("RepoTags") or ())
        labels = (image.get("Config") or {}).get("Labels") or {}
        dead_snapshot = (
            not tags and labels.get("org.iris-envs.role") == "snapshot" and image_id not in in_use
        )
        if image_id not in artefacts and not dead_snapshot:
            kept_images[image_id] = tags
    intermediate = {str(i["Id"]) for i in every} - top_level
    kept_containers = {
        str(c["Id"]): str(c.get("Name", "")).lstrip("/")
        for c in containers
        if not _is_test_container(c, artefacts)
        and not _dead(c)
        # A container of an intermediate image is a `docker build` step: gone when it ends.
        and (str(c.get("Image", "")) in top_level or str(c.get("Image", "")) not in intermediate)
    }
    return Inventory(kept_images, kept_containers, _cache_files(cache) if cache else {})


def leftovers(basetemp: Path) -> list[str]:
    """Images and containers of projects in ``basetemp`` (this session's temporary folders)
    that are still on the engine: what the session's tests built and forgot to remove."""
    prefix = str(basetemp).rstrip("/") + "/"
    found = []
    for image in _inspect("image", _list("images", "-q", "--no-trunc")):
        labels = (image.get("Config") or {}).get("Labels") or {}
        if labels.get("org.iris-envs.origin-project", "").startswith(prefix):
            tags = ", ".join(image.get("RepoTags") or ()) or "untagged"
            found.append(f"image {str(image['Id'])[7:19]} ({tags})")
    for container in _inspect("container", _list("ps", "-aq", "--no-trunc")):
        labels = (container.get("Config") or {}).get("Labels") or {}
        if labels.get("org.iris-envs.project", "").startswith(prefix):
            found.append(f"container {str(container.get('Name', '')).lstrip('/')}")
    return found


def engine_answers() -> bool:
    """Whether ``docker info`` answers (no engine: nothing to keep)."""
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def user_cache_folder() -> Path:
    """The cache folder iris-envs uses outside the suite ($IRIS_ENVS_CACHE_DIR as the suite
    found it, or the platformdirs default); nothing is created. The suite gives each test its
    own folder, so this one must not change at all."""
    from iris_envs.cache.folder import cache_location

    return cache_location()
