"""The .DAT fixture folder: manifest.json (schema version 1), its JSON Schema, and validation."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from iris_envs.hashing import CHUNK_SIZE, sha256_file

MANIFEST_NAME = "manifest.json"
# The database file a `dat` step mounts; a fixture for it lists this path.
DAT_FILE = "IRIS.DAT"
SCHEMA_VERSION = 1
# Files are hashed in 1 MiB reads (hashing.CHUNK_SIZE): a multi-gigabyte IRIS.DAT never sits in
# memory, and the per-call cost vanishes next to SHA-256 itself.
CHUNK = CHUNK_SIZE
SHA256_PATTERN = r"^sha256:[0-9a-f]{64}$"
FIXTURE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# Manifests are small; a bigger one is hostile or broken, and is not parsed.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024

FIX_HINT = (
    "a fixture folder is written by `iris-envs fixture create`; if its files were changed on "
    "purpose, create it again. With Git LFS, check the files were pulled (`git lfs pull`), not "
    "left as pointer files"
)

REQUIRED_KEYS = (
    "schema_version",
    "fixture_id",
    "version",
    "description",
    "created_at",
    "iris_version",
    "source_namespace",
    "source_database",
    "files",
    "tables",
    "features",
)


@dataclass(frozen=True)
class FixtureFile:
    """One file of a fixture: its path inside the folder, size in bytes and "sha256:<hex>"."""

    path: str
    size: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """The manifest entry."""
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class FixtureTable:
    """A table of the source database and how many rows it held when the fixture was made."""

    name: str
    row_count: int

    def to_json(self) -> dict[str, Any]:
        """The manifest entry."""
        return {"name": self.name, "row_count": self.row_count}


@dataclass(frozen=True)
class FixtureManifest:
    """The parsed manifest.json of a fixture folder (schema version 1)."""

    fixture_id: str
    version: str
    description: str
    created_at: str
    iris_version: str
    source_namespace: str
    source_database: str
    files: tuple[FixtureFile, ...]
    tables: tuple[FixtureTable, ...] = ()
    features: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        """The manifest as written to manifest.json (keys in schema order)."""
        return {
            "schema_version": self.schema_version,
            "fixture_id": self.fixture_id,
            "version": self.version,
            "description": self.description,
            "created_at": self.created_at,
            "iris_version": self.iris_version,
            "source_namespace": self.source_namespace,
            "source_database": self.source_database,
            "files": [entry.to_json() for entry in self.files],
            "tables": [table.to_json() for table in self.tables],
            "features": dict(self.features),
        }

    @property
    def total_bytes(self) -> int:
        """The sum of the files' sizes."""
        return sum(entry.size for entry in self.files)

    def key_part(self) -> dict[str, Any]:
        """The fixture's part of a cache key: what the manifest says the files are. A validated
        fixture's files match it, so nothing is hashed again to compute a key."""
        return {
            "fixture_id": self.fixture_id,
            "version": self.version,
            "iris_version": self.iris_version,
            "files": [entry.to_json() for entry in self.files],
        }


@dataclass(frozen=True)
class Fixture:
    """A fixture folder on disk and its parsed manifest."""

    folder: Path
    manifest: FixtureManifest


class FixtureInvalid(Exception):
    """A fixture folder has problems; ``problems`` lists every one (never only the first)."""

    def __init__(self, folder: Path, problems: list[str]) -> None:
        super().__init__(f"{folder}: " + "; ".join(problems))
        self.folder = folder
        self.problems = problems

    def report(self) -> str:
        """One line naming the folder, then one indented line per problem."""
        count = len(self.problems)
        lines = [f"fixture {self.folder} is not valid ({count} problem{'s' * (count != 1)}):"]
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(lines)


def fixture_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of manifest.json, schema version 1."""
    text = {"type": "string"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://iris-envs.dev/schemas/fixture-manifest-v1.json",
        "title": "iris-envs .DAT fixture manifest",
        "description": "manifest.json of a fixture folder: the database file(s) beside it, "
        "their sizes and SHA-256 checksums, and where they came from.",
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED_KEYS),
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "fixture_id": {
                "type": "string",
                "pattern": FIXTURE_ID_PATTERN,
                "description": "a name for the fixture (letters, digits, . _ -)",
            },
            "version": {"type": "string", "minLength": 1, "description": "the fixture's version"},
            "description": text,
            "created_at": {
                "type": "string",
                "format": "date-time",
                "description": "when the fixture was made (RFC 3339, UTC)",
            },
            "iris_version": {
                "type": "string",
                "pattern": r"^[0-9]+(\.[0-9]+)*",
                "description": "the IRIS version of the source instance (e.g. 2024.1.0.262.0); "
                "a fixture is refused by an older IRIS",
            },
            "source_namespace": text,
            "source_database": text,
            "files": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["path", "size", "sha256"],
                    "properties": {
                        "path": {
                            "type": "string",
                            "minLength": 1,
                            "description": "relative to the folder, '/'-separated; no '..', "
                            "no absolute path, never a symlink",
                        },
                        "size": {"type": "integer", "minimum": 0},
                        "sha256": {"type": "string", "pattern": SHA256_PATTERN},
                    },
                },
            },
            "tables": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "row_count"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "row_count": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "features": {"type": "object", "description": "free-form"},
        },
    }


def path_problem(path: object) -> str | None:
    """Why a manifest file path is unsafe or malformed, or None when it is a plain relative path."""
    if not isinstance(path, str) or not path:
        return "is not a non-empty string"
    parts = path.split("/")
    checks = (
        ("\x00" in path, "contains a NUL character"),
        ("\\" in path, "contains a backslash (use '/' between folders)"),
        (
            path.startswith("/") or re.match(r"^[A-Za-z]:", path) is not None,
            "is absolute (paths are relative to the fixture folder)",
        ),
        (".." in parts, "contains '..' (paths must stay inside the fixture folder)"),
        (
            any(part in ("", ".") for part in parts),
            "has an empty or '.' component (write it as a plain relative path)",
        ),
        (path == MANIFEST_NAME, f"names {MANIFEST_NAME} itself"),
    )
    return next((why for failed, why in checks if failed), None)


def _on_disk_problem(folder: Path, relative: str) -> str | None:
    """Why ``folder/relative`` is not a regular file inside the folder (no link on the way)."""
    current = folder
    for part in PurePosixPath(relative).parts:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            return "is missing"
        except OSError as error:
            return f"cannot be read ({error.strerror})"
        if stat.S_ISLNK(mode):
            return f"is a symlink ({current.relative_to(folder)}); fixtures hold real files only"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def _check_string(data: Mapping[str, Any], key: str, problems: list[str]) -> str:
    value = data.get(key)
    if key in data and not isinstance(value, str):
        problems.append(f"manifest: '{key}' must be a string, not {_kind(value)}")
    return value if isinstance(value, str) else ""


def _kind(value: object) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_manifest(data: object) -> tuple[FixtureManifest | None, list[str]]:
    """Check a decoded manifest against schema version 1; return it (or None) and every problem."""
    if not isinstance(data, dict):
        return None, [f"manifest: the top level must be an object, not {_kind(data)}"]
    problems: list[str] = []
    version = data.get("schema_version")
    if "schema_version" in data and version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        problems.append(
            f"manifest: schema_version {json.dumps(version)} is not supported (this iris-envs "
            f"reads version {SCHEMA_VERSION}"
            + ("; upgrade iris-envs to read it)" if newer else ")")
        )
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        problems.append("manifest: missing key(s) " + ", ".join(missing))
    unknown = sorted(str(key) for key in data if key not in REQUIRED_KEYS)
    if unknown:
        problems.append(
            "manifest: unknown key(s) " + ", ".join(unknown) + " (put extra data under 'features')"
        )
    strings = {
        key: _check_string(data, key, problems)
        for key in REQUIRED_KEYS
        if key not in ("schema_version", "files", "tables", "features")
    }
    if (
        "fixture_id" in data
        and strings["fixture_id"]
        and not re.match(FIXTURE_ID_PATTERN, strings["fixture_id"])
    ):
        problems.append(
            f"manifest: fixture_id {strings['fixture_id']!r} must be 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    if "version" in data and isinstance(data.get("version"), str) and not strings["version"]:
        problems.append("manifest: 'version' is empty")
    if strings["iris_version"] and iris_version_tuple(strings["iris_version"]) is None:
        problems.append(
            f"manifest: iris_version {strings['iris_version']!r} does not start with a version "
            "number such as 2024.1.0.262.0"
        )
    features = data.get("features", {})
    if not isinstance(features, dict):
        problems.append(f"manifest: 'features' must be an object, not {_kind(features)}")
        features = {}
    files = _parse_files(data.get("files"), "files" in data, problems)
    tables = _parse_tables(data.get("tables"), "tables" in data, problems)
    if problems:
        return None, problems
    return (
        FixtureManifest(
            fixture_id=strings["fixture_id"],
            version=strings["version"],
            description=strings["description"],
            created_at=strings["created_at"],
            iris_version=strings["iris_version"],
            source_namespace=strings["source_namespace"],
            source_database=strings["source_database"],
            files=tuple(files),
            tables=tuple(tables),
            features=features,
        ),
        [],
    )


def _parse_files(value: object, present: bool, problems: list[str]) -> list[FixtureFile]:
    if not present:
        return []
    if not isinstance(value, list) or not value:
        problems.append("manifest: 'files' must be a non-empty list of {path, size, sha256}")
        return []
    files: list[FixtureFile] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = f"manifest: files[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be an object with path, size and sha256")
            continue
        path, size, sha = entry.get("path"), entry.get("size"), entry.get("sha256")
        extra = sorted(str(key) for key in entry if key not in ("path", "size", "sha256"))
        if extra:
            problems.append(f"{where}: unknown key(s) " + ", ".join(extra))
        why = path_problem(path)
        shown = json.dumps(path) if isinstance(path, str) else "path"
        if why is not None:
            problems.append(f"{where}: {shown} {why}")
        elif str(path).lower() in seen:
            problems.append(f"{where}: {shown} is listed twice")
        if not _is_count(size):
            problems.append(f"{where}: size must be a whole number of bytes, not {size!r}")
        if not isinstance(sha, str) or not re.match(SHA256_PATTERN, sha):
            problems.append(f"{where}: sha256 must be 'sha256:' and 64 lower-case hex digits")
        if (
            why is None
            and _is_count(size)
            and isinstance(sha, str)
            and re.match(SHA256_PATTERN, sha)
        ):
            assert isinstance(path, str) and isinstance(size, int)
            seen.add(path.lower())
            files.append(FixtureFile(path, size, sha))
    return files


def _parse_tables(value: object, present: bool, problems: list[str]) -> list[FixtureTable]:
    if not present:
        return []
    if not isinstance(value, list):
        problems.append("manifest: 'tables' must be a list of {name, row_count}")
        return []
    tables: list[FixtureTable] = []
    for index, entry in enumerate(value):
        name = entry.get("name") if isinstance(entry, dict) else None
        count = entry.get("row_count") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or not _is_count(count):
            problems.append(
                f"manifest: tables[{index}] must be {{name: a non-empty string, row_count: a "
                "whole number}}"
            )
            continue
        assert isinstance(count, int)
        tables.append(FixtureTable(name, count))
    return tables


def _manifest_text(path: Path) -> tuple[bytes | None, str]:
    """The manifest's bytes, or None and why they cannot be used."""
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
            return None, f"{MANIFEST_NAME} must be a regular file (not a symlink or folder)"
        if info.st_size > MAX_MANIFEST_BYTES:
            return None, f"{MANIFEST_NAME} is {info.st_size:,} bytes; a manifest is far smaller"
        return path.read_bytes(), ""
    except FileNotFoundError:
        kind = "folder" if path.parent.is_dir() else "folder (it does not exist)"
        return None, f"no {MANIFEST_NAME} in the {kind}: is this a fixture folder?"
    except OSError as error:
        return None, f"{MANIFEST_NAME} cannot be read ({error.strerror})"


def read_manifest(folder: Path) -> tuple[FixtureManifest | None, list[str]]:
    """Read and schema-check ``folder/manifest.json`` (no file is hashed)."""
    raw, why = _manifest_text(Path(folder) / MANIFEST_NAME)
    if raw is None:
        return None, [why]
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        return None, [f"{MANIFEST_NAME} is not valid JSON: {error}"]
    return parse_manifest(data)


def validate_fixture(
    folder: Path,
    *,
    check_hashes: bool = True,
    on_bytes: Callable[[int], None] | None = None,
    hasher: Callable[[Path], str] | None = None,
) -> Fixture:
    """Check a fixture folder: manifest schema, paths, sizes and (by default) checksums.

    Raises FixtureInvalid listing every problem found. A file whose size is already wrong is
    not hashed (the size says enough and hashing gigabytes would only delay the answer).
    ``hasher`` replaces the streaming SHA-256 (the key's stat cache passes its own, so an
    unchanged fixture is not read again).
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise FixtureInvalid(folder, [f"the fixture folder {what}"])
    manifest, problems = read_manifest(folder)
    if manifest is None:
        raise FixtureInvalid(folder, problems)
    for entry in manifest.files:
        why = _on_disk_problem(folder, entry.path)
        if why is not None:
            problems.append(f"{entry.path} {why}")
            continue
        target = folder / entry.path
        size = target.stat().st_size
        if size != entry.size:
            problems.append(
                f"{entry.path}: size {size:,} bytes, but the manifest says {entry.size:,}"
            )
            continue
        if check_hashes:
            try:
                actual = hasher(target) if hasher else sha256_file(target, on_bytes)
            except OSError as error:
                problems.append(f"{entry.path} cannot be read ({error.strerror})")
                continue
            if actual != entry.sha256:
                problems.append(
                    f"{entry.path}: checksum mismatch: the manifest expects {entry.sha256}, "
                    f"the file has {actual}"
                )
    if problems:
        raise FixtureInvalid(folder, problems)
    return Fixture(folder, manifest)


def is_fixture_folder(folder: Path) -> bool:
    """True when ``folder`` has a manifest.json (also a broken one: it is then reported)."""
    return os.path.lexists(Path(folder) / MANIFEST_NAME)


def dat_fixture(folder: Path, hasher: Callable[[Path], str] | None = None) -> Fixture:
    """Validate a fixture for the `dat` step: everything validate checks, and an IRIS.DAT."""
    try:
        fixture = validate_fixture(folder, hasher=hasher)
    except FixtureInvalid as invalid:
        manifest, _ = read_manifest(folder)
        if manifest is not None and DAT_FILE not in {f.path for f in manifest.files}:
            invalid.problems.append(f"the manifest lists no {DAT_FILE} (a `dat` step mounts it)")
        raise
    if DAT_FILE not in {entry.path for entry in fixture.manifest.files}:
        raise FixtureInvalid(folder, [f"the manifest lists no {DAT_FILE} (a `dat` step mounts it)"])
    return fixture


def fixture_key_content(
    folder: Path, what: str, hasher: Callable[[Path], str] | None = None
) -> dict[str, Any]:
    """A `dat` step's ``content`` in the cache key: the manifest's checksums, once the folder is
    validated (with ``hasher``: the key's stat cache). A problem is a ConfigError (exit 2)
    raised while the key is computed, so before any container exists."""
    from iris_envs.errors import ConfigError

    try:
        fixture = dat_fixture(folder, hasher)
    except FixtureInvalid as invalid:
        raise ConfigError(
            f"{what}: {invalid.report()}",
            hint=FIX_HINT,
        ) from None
    return {"type": "fixture", **fixture.manifest.key_part()}


def iris_version_tuple(text: str) -> tuple[int, ...] | None:
    """The leading numbers of an IRIS version ("2024.1.0.262.0" -> (2024, 1, 0, 262, 0)); also
    finds them inside a $ZVERSION banner ("IRIS for UNIX ... 2024.1 (Build 262U) ...")."""
    match = re.match(r"^\s*([0-9]+(?:\.[0-9]+)*)", text) or re.search(
        r"\b(20[0-9]{2}\.[0-9]+(?:\.[0-9]+)*)", text
    )
    if match is None:
        return None
    numbers = tuple(int(part) for part in match.group(1).split("."))
    build = re.search(r"\(Build ([0-9]+)", text)
    if build is not None and len(numbers) == 2:
        numbers = (*numbers, 0, int(build.group(1)))
    return numbers


def is_newer(fixture_version: str, image_version: str) -> bool:
    """True when a fixture was made by a NEWER IRIS than the image (release and build compared;
    a missing trailing part counts as 0)."""
    mine, theirs = iris_version_tuple(fixture_version), iris_version_tuple(image_version)
    if mine is None or theirs is None:
        return False
    width = max(len(mine), len(theirs))
    return mine + (0,) * (width - len(mine)) > theirs + (0,) * (width - len(theirs))


def find_fixtures(root: Path, *, max_depth: int = 8) -> Iterator[Path]:
    """Every folder under ``root`` (itself included) holding a manifest.json, sorted; symlinked
    folders are not followed (a link loop or a link out of the tree is never walked)."""
    root = Path(root)
    if (root / MANIFEST_NAME).is_file():
        yield root
    if max_depth <= 0:
        return
    try:
        children = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError:
        return
    for child in children:
        if child.name.startswith(".") or not child.is_dir(follow_symlinks=False):
            continue
        yield from find_fixtures(Path(child.path), max_depth=max_depth - 1)
