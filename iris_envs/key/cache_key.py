"""The snapshot cache key: sha256 over a canonical JSON of everything that shapes a snapshot."""

from __future__ import annotations

import hashlib
import json
import platform as _platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iris_envs.cache.hashing import HashCache, UnsafeLink, default_cache
from iris_envs.config.spec import EnvSpec, SetupStep, StepKind
from iris_envs.errors import ConfigError
from iris_envs.fixtures.validate import fixture_key_content, is_fixture_folder

if TYPE_CHECKING:
    from iris_envs.engine.adapter import DockerEngine

# Bump whenever the build recipe changes what ends up inside a snapshot, so every old
# snapshot stops matching (explain then says "recipe version: 1 -> 2").
RECIPE_VERSION = 1

# A constant salt keeps the stored hash from matching generic sha256 rainbow tables; the
# password itself never leaves the host in clear text through a label.
PASSWORD_SALT = b"iris-envs-password\0"

TAG_FALLBACK_OFFLINE = "offline: keyed by tag"
TAG_FALLBACK_ABSENT = "image not present in the engine: keyed by tag (pull it to key by image ID)"


@dataclass(frozen=True)
class BaseImage:
    """The base image as keyed: its ID when the engine knows it, else only the tag (see note)."""

    ref: str
    image_id: str | None
    note: str = ""  # why the key falls back to the tag; "" when keyed by image ID


@dataclass(frozen=True)
class KeyResult:
    """A cache key and the exact JSON inputs it is the sha256 of (stored as an image label)."""

    key: str  # 64 hex digits
    inputs: dict[str, Any]

    def inputs_json(self) -> str:
        """The canonical JSON the key is computed from (what goes into the inputs label)."""
        return canonical_json(self.inputs)


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def password_hash(password: str) -> str:
    """Salted sha256 of the test user's password, as stored in the key inputs."""
    return "sha256:" + hashlib.sha256(PASSWORD_SALT + password.encode("utf-8")).hexdigest()


def resolve_base_image(engine: DockerEngine | None, image: str) -> BaseImage:
    """Look the image up in the engine; ``engine=None`` (``--offline``) keys by tag instead.

    Tags such as ``iris-community:2025.1`` are re-pointed to new maintenance releases, so a
    key must follow the image ID whenever one is available.
    """
    if engine is None:
        return BaseImage(image, None, TAG_FALLBACK_OFFLINE)
    info = engine.inspect_image(image)
    if info is None:
        return BaseImage(image, None, TAG_FALLBACK_ABSENT)
    return BaseImage(image, info.id, "")


_MACHINE_TO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
}


def effective_platform(spec: EnvSpec, engine: DockerEngine | None) -> str:
    """The platform a snapshot is built for: the env's, else the engine's, else this host's."""
    if spec.platform:
        return spec.platform
    if engine is not None:
        return engine.platform()
    machine = _platform.machine().lower()
    return "linux/" + _MACHINE_TO_ARCH.get(machine, machine)


def _relative(spec: EnvSpec, path: Path) -> str:
    # Paths in the key are relative to the project root so a checkout in another folder
    # (another CI runner) computes the same key.
    try:
        return path.relative_to(spec.project_root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _content(path: Path, cache: HashCache, project_root: Path) -> dict[str, Any]:
    try:
        if path.is_dir():
            tree = cache.tree_hash(path, boundary=project_root)
            return {"type": "dir", "sha256": tree.digest, "files": tree.files}
        return {"type": "file", "sha256": cache.file_hash(path)}
    except UnsafeLink as link:
        # The build copies a link's target, never the link: one that leaves the project would
        # put outside files into the snapshot, one that points nowhere would load nothing.
        raise ConfigError(
            f"symlink {link.link} (in {path}) -> {link.target}: {link.reason}",
            hint="replace the link with the file, or point it at a file inside the project",
        ) from None
    except OSError as error:
        raise ConfigError(
            f"cannot read {path} to compute the cache key: {error.strerror or error}"
        ) from None


def _step_inputs(step: SetupStep, cache: HashCache, project_root: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "kind": step.kind.value,
        "source": step.source,
        "namespace": step.namespace,
        "options": dict(step.options),
    }
    if step.kind is StepKind.DAT and step.path is not None and is_fixture_folder(step.path):
        # The manifest's checksums are the fixture's key (validated here through the stat
        # cache, so an unchanged fixture is hashed once, and a bad one fails before any build).
        entry["content"] = fixture_key_content(step.path, step.describe(), cache.file_hash)
    elif step.path is not None:
        entry["content"] = _content(step.path, cache, project_root)
    return entry


def key_inputs(
    spec: EnvSpec, base: BaseImage, platform: str, cache: HashCache | None = None
) -> dict[str, Any]:
    """Everything that changes what is inside the snapshot, and nothing that does not.

    Run-only fields (description, tags, labels, ready_timeout, spares) and the license (mounted at
    run time, never committed) are deliberately absent.
    """
    cache = cache or default_cache()
    base_entry: dict[str, Any] = {"ref": base.ref, "id": base.image_id}
    if base.image_id is None:
        base_entry["keyed_by"] = "tag"
    inputs: dict[str, Any] = {
        "recipe": RECIPE_VERSION,
        "base_image": base_entry,
        "platform": platform,
        "edition": spec.edition.value,
        "namespace": spec.namespace,
        "username": spec.username,
        "password": password_hash(spec.password),
        "setup": [_step_inputs(step, cache, spec.project_root) for step in spec.setup],
        "cpf_merge": None,
    }
    if spec.cpf_merge is not None:
        inputs["cpf_merge"] = {
            "source": _relative(spec, spec.cpf_merge),
            "content": _content(spec.cpf_merge, cache, spec.project_root),
        }
    return inputs


# Folders with more files are not listed file by file (the label stays small); `explain` then
# says only that the folder's content changed.
MAX_LISTED_FILES = 1000


def input_files(spec: EnvSpec, cache: HashCache | None = None) -> dict[str, dict[str, str]]:
    """Per folder a setup step reads: ``{"<kind> <source>": {relative path: 16-hex hash}}``.

    Not a key input (the folder's tree digest is): stored beside the key so that `explain` can
    name the files that changed, were added or removed. Unreadable folders are left out (the
    key computation reports them).
    """
    cache = cache or default_cache()
    listed: dict[str, dict[str, str]] = {}
    for step in spec.setup:
        if step.kind is StepKind.DAT or step.path is None or not step.path.is_dir():
            continue
        try:
            tree = cache.tree_hash(step.path, boundary=spec.project_root)
        except (OSError, UnsafeLink):
            continue
        if len(tree.entries) <= MAX_LISTED_FILES:
            listed[f"{step.kind.value} {step.source}"] = {
                rel: digest.removeprefix("sha256:")[:16] for rel, digest in tree.entries
            }
    return listed


def compute_key(
    spec: EnvSpec, base: BaseImage, platform: str, cache: HashCache | None = None
) -> KeyResult:
    """Compute the snapshot key of ``spec`` built on ``base`` for ``platform``."""
    cache = cache or default_cache()
    inputs = key_inputs(spec, base, platform, cache)
    cache.save()
    digest = hashlib.sha256(canonical_json(inputs).encode("utf-8")).hexdigest()
    return KeyResult(digest, inputs)
