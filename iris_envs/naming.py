"""Names and labels iris-envs puts on images and containers, in one place so all modules agree."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePath

LABEL_PREFIX = "org.iris-envs."
LABEL_KEY = LABEL_PREFIX + "key"  # full sha256 cache key of a snapshot
LABEL_ENV = LABEL_PREFIX + "env"  # environment name
LABEL_INPUTS = LABEL_PREFIX + "inputs"  # canonical JSON of the key inputs, for `explain`
LABEL_FILES = LABEL_PREFIX + "files"  # snapshots: per-file hashes of folder inputs, for `explain`
LABEL_BASE_IMAGE = LABEL_PREFIX + "base-image"  # base image ID the snapshot was built from
LABEL_VERSION = LABEL_PREFIX + "version"  # iris-envs version that built it
LABEL_CREATED = LABEL_PREFIX + "created"  # ISO-8601 UTC build time
LABEL_ROLE = LABEL_PREFIX + "role"  # containers: "build" | "verify" | "run" | "up" | "spare"
LABEL_OWNER_PID = LABEL_PREFIX + "owner-pid"  # containers: PID of the iris-envs process
LABEL_OWNER_HOST = LABEL_PREFIX + "owner-host"  # containers: hostname of that process
# containers: where that pid names that process: "<boot id>/<pid namespace>" ("" off Linux)
LABEL_OWNER_SPACE = LABEL_PREFIX + "owner-space"
LABEL_RUN_ID = LABEL_PREFIX + "run-id"  # containers: one id per iris-envs invocation
LABEL_PROJECT = LABEL_PREFIX + "project"  # containers: project root the env came from
# snapshots: the project root whose build made the image (informational: which projects USE a
# snapshot is told by its tags, one repository per project; see project_repository)
LABEL_ORIGIN_PROJECT = LABEL_PREFIX + "origin-project"
LABEL_MANAGED = LABEL_PREFIX + "managed"  # "true" on everything iris-envs creates
LABEL_SPARE_SINCE = LABEL_PREFIX + "spare-since"  # spares: epoch seconds they were started
LABEL_BUILT_BY = LABEL_PREFIX + "built-by"  # snapshots: "<host>:<pid>" of the building process
LABEL_BUILT_IN = LABEL_PREFIX + "built-in"  # snapshots: that process's owner space
LABEL_SPARE_MAX_AGE = LABEL_PREFIX + "spare-max-age"  # spares: seconds their project keeps them

SPARE_ROLE = "spare"
SPARE_NAME_PREFIX = "iris-envs-spare-"  # an unclaimed spare's name; claiming renames it
# A claimed spare's name ends in -p<claimant pid>, then -s<its space tag> when it has a space.
_CLAIMED_PID = re.compile(r"-p(\d+)(?:-s([0-9a-f]{8}))?$")

SNAPSHOT_REPO_PREFIX = "iris-envs/"
KEY_TAG_LENGTH = 12
LATEST_TAG = "latest"
PROJECT_HASH_LENGTH = 8

_INVALID_REPO_CHARS = re.compile(r"[^a-z0-9._-]+")
_PROJECT_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_PROJECT_SLUG_LENGTH = 24


def env_component(env_name: str) -> str:
    """An environment's name as one Docker repository path component (lower case)."""
    return _INVALID_REPO_CHARS.sub("-", env_name.lower()).strip("-._") or "env"


def project_hash(project_root: str | PurePath) -> str:
    """Eight hex digits of sha256 over the project root as written (its folder path)."""
    text = str(project_root).encode("utf-8")
    return hashlib.sha256(text).hexdigest()[:PROJECT_HASH_LENGTH]


def project_id(project_root: str | PurePath) -> str:
    """``<folder>-<hash8>``, e.g. ``quickstart-1a2b3c4d``: a project's part of its snapshot names.

    The folder's name makes it readable in ``docker images``; the hash of the whole path keeps
    two checkouts with the same folder name apart.
    """
    name = PurePath(str(project_root)).name.lower()
    slug = _PROJECT_SLUG_CHARS.sub("-", name).strip("-")[:_PROJECT_SLUG_LENGTH].strip("-")
    return f"{slug or 'project'}-{project_hash(project_root)}"


def snapshot_repository(env_name: str) -> str:
    """The project-independent repository ``iris-envs/<env>``: the name a snapshot has in a
    registry and in an archive (where it travels between projects), and the local name snapshots
    had before each project got its own repository."""
    return SNAPSHOT_REPO_PREFIX + env_component(env_name)


def project_repository(project_root: str | PurePath, env_name: str) -> str:
    """The repository of one project's snapshots of one environment:
    ``iris-envs/<project id>/<env>``. A project only ever tags, untags or prunes its own."""
    return f"{SNAPSHOT_REPO_PREFIX}{project_id(project_root)}/{env_component(env_name)}"


def snapshot_tag(key: str) -> str:
    """The tag naming one snapshot: the first twelve hex digits of its key."""
    return key[:KEY_TAG_LENGTH]


def snapshot_ref(project_root: str | PurePath, env_name: str, key: str) -> str:
    """Full image reference ``iris-envs/<project id>/<env>:<key12>``."""
    return f"{project_repository(project_root, env_name)}:{snapshot_tag(key)}"


def latest_ref(project_root: str | PurePath, env_name: str) -> str:
    """``iris-envs/<project id>/<env>:latest``: the project's newest snapshot of the env."""
    return f"{project_repository(project_root, env_name)}:{LATEST_TAG}"


def shared_ref(env_name: str, key: str) -> str:
    """``iris-envs/<env>:<key12>``: the project-independent name (archives; before projects)."""
    return f"{snapshot_repository(env_name)}:{snapshot_tag(key)}"


@dataclass(frozen=True)
class SnapshotName:
    """A snapshot tag taken apart: whose it is (None: the project-independent name) and what."""

    project: str | None  # a project id, or None for ``iris-envs/<env>:<tag>``
    env: str  # the environment's repository component
    tag: str


def parse_snapshot_ref(ref: str) -> SnapshotName | None:
    """Split an ``iris-envs/...`` reference; None for any other name."""
    if not ref.startswith(SNAPSHOT_REPO_PREFIX) or ":" not in ref:
        return None
    repository, tag = ref.rsplit(":", 1)
    parts = repository.removeprefix(SNAPSHOT_REPO_PREFIX).split("/")
    if len(parts) == 1:
        return SnapshotName(None, parts[0], tag)
    if len(parts) == 2:
        return SnapshotName(parts[0], parts[1], tag)
    return None


def spare_claimant_pid(labels: dict[str, str], name: str) -> int | None:
    """The pid of the process that claimed a spare (its name says), or None: not a spare, or
    one still available."""
    if labels.get(LABEL_ROLE) != SPARE_ROLE or name.startswith(SPARE_NAME_PREFIX):
        return None
    match = _CLAIMED_PID.search(name)
    return int(match.group(1)) if match else None


def image_version(labels: dict[str, str]) -> str:
    """The IRIS version an InterSystems image's labels state (ADOCK, "Discovering Defaults in
    InterSystems Images"), "" when they state none."""
    clean = labels.get("org.opencontainers.image.version", "").strip()
    return clean or labels.get("com.intersystems.platform-version", "").strip().lstrip(":")


def spare_claimant_space_tag(name: str) -> str:
    """The space tag a claimed spare's name carries ("" when none: an older name, or a
    claimant with no owner space)."""
    match = _CLAIMED_PID.search(name)
    return (match.group(2) or "") if match else ""


def space_tag(space: str) -> str:
    """Eight hex digits for an owner space in a container name ("" for no space)."""
    return hashlib.sha256(space.encode()).hexdigest()[:8] if space else ""
