"""The configuration's vocabulary: keys, fields, step kinds and the patterns values match."""

from __future__ import annotations

import re

from iris_envs.config.spec import StepKind
from iris_envs.errors import ConfigError

# Top-level keys of the iris-envs table.
TOP_LEVEL_KEYS = ("default", "defaults", "env", "matrix", "cache")


# Every per-environment field, with what is allowed (used in error messages and the schema).
ENV_FIELDS: dict[str, str] = {
    "image": "a Docker image reference, e.g. 'intersystemsdc/iris-community:2025.1'",
    "edition": "'community' or 'enterprise'",
    "license": "a license key file path or '$ENV_VAR' naming one (enterprise only)",
    "namespace": "an IRIS namespace name: a letter (or %) then letters, digits, '-' or '_'",
    "username": "a user name of letters, digits and . _ @ % - (at most 160 characters)",
    "password": "a non-empty string, or '$ENV_VAR' to read it from the environment",
    "setup": "an array of setup step tables",
    "cpf_merge": "a CPF merge file path inside the project",
    "description": "a string",
    "tags": "an array of tag names (letters, digits, '.', '_', '-')",
    "labels": "a table of string values",
    "platform": "an OS/architecture such as 'linux/amd64' or 'linux/arm64'",
    "ready_timeout": "a positive number of seconds",
    "spares": "a whole number of warm spare containers to keep, 0 to 8",
    "spare_max_age": "a positive number of hours after which an unused spare is removed",
    "clones": "a whole number of clone namespaces kept ready per container for tests that "
    "ask for a pristine namespace (iris_fresh, iris_isolation), 1 to 16",
    "monitor": "false, true (sample IRIS's counters during the command) or "
    "'systemperformance' (also record a ^SystemPerformance profile)",
    "monitor_interval": "seconds between two samples while the command runs, 0.2 to 300",
    "monitor_min_free_memory": "a size such as '256MB': below it on the engine host, monitoring "
    "backs off",
    "monitor_min_free_disk": "a size such as '1GB': below it on the instance's disk, monitoring "
    "backs off",
}


# Setup step kinds, each with its options and their defaults (None: no default, may be omitted).
STEP_OPTIONS: dict[StepKind, dict[str, str | None]] = {
    StepKind.OBJECTSCRIPT: {},
    StepKind.LOAD: {"flags": "ck", "recurse": "1"},
    StepKind.SQL: {"dialect": "IRIS"},
    StepKind.GLOBALS: {},
    # database default: the directory's name, upper-cased; mount: how the namespace uses it
    StepKind.DAT: {"database": None, "mount": "namespace"},
    StepKind.IPM: {"version": None},
    StepKind.SHELL: {"user": "irisowner"},
}


STEP_KINDS = tuple(kind.value for kind in StepKind)


STEP_COMMON_KEYS = ("namespace",)


MATRIX_RESERVED = ("exclude",)


# The most environments all matrices together may generate (counted before excludes): a CI
# matrix of versions x editions x variants is tens; 2^20 was minutes of `list` (issue 22, 15).
MAX_GENERATED_ENVS = 1000


# Every pattern here is used with fullmatch: `$` also matches before a final newline, so
# `re.match("^...$")` let "app\n" through (issue 22, item 12).
ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


# Docker allows 128 characters in a tag and the names built from an env name add up to ~40 more
# (`iris-envs-build-<env>-<run id>`); 64 leaves room and is plenty for a name a person types.
MAX_ENV_NAME = 64


TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


# Docker's reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest], path
# components lower-case alphanumerics separated by ".", "_", "__" or dashes; tags of at most
# 128 word characters, "." and "-". An image Docker would reject fails here with exit 2.
IMAGE = re.compile(
    # a registry host: has a dot or a port, or is localhost (else it is a lower-case path)
    r"(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
    r"(?::[0-9]+)?|localhost(?::[0-9]+)?|[A-Za-z0-9-]+:[0-9]+)/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?"
)


NAMESPACE = re.compile(r"%?[A-Za-z][A-Za-z0-9_-]{0,63}")


USERNAME = re.compile(r"[A-Za-z0-9_.@%-]{1,160}")


PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?")


DATABASE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


IPM_MODULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


LOAD_FLAGS = re.compile(r"[A-Za-z0-9/=,+-]*")


WORD = re.compile(r"[A-Za-z0-9]+")


ENV_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# C0 controls (NUL, newline, escape...), DEL and C1 controls: no name, path, image or password
# needs one, and a NUL or newline in one breaks what it is passed to (an exec environment, a
# label, a log line) in ways that echoed the value (issue 22, item 11).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_character(text: str) -> str | None:
    """Where ``text`` holds its first control character (``"U+000A at position 4"``), or None.

    Describes the character instead of quoting the text: the text may be a secret.
    """
    found = _CONTROL.search(text)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X} at position {found.start() + 1}"


MAX_SPARES = 8  # each spare is a running IRIS instance: memory, and community core limits
MAX_CLONES = 16  # each clone copies every database its namespace writes: disk, refill time
# ^SystemPerformance takes intervals of 1 to 300 s (GCM_systemperf, "addprofile"); sampling
# faster than 0.2 s would make the sampler itself the load it measures.
MONITOR_INTERVAL_RANGE = (0.2, 300.0)
MONITOR_MODES = {False: "", True: "sampling", "systemperformance": "systemperformance"}


def spares_count(value: object) -> int | None:
    """The number of spares ``value`` names (an int, or a string of ASCII digits), or None when
    it names none in 0..MAX_SPARES: the one rule for ``--spares``, $IRIS_ENVS_SPARES and
    ``spares``. ASCII only: str.isdigit() accepts "²", which int() then refuses."""
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,6}", value.strip(), flags=re.ASCII):
            return None
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SPARES:
        return None
    return value


_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?i?b?)?\s*", re.IGNORECASE)


_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def parse_size(text: str, source: str = "size") -> int:
    """``"20GB"``, ``"500M"``, ``"1.5GiB"``, ``"1024"`` -> bytes (KiB/MiB/GiB are powers of 2)."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ConfigError(
            f"{source}: invalid size {text!r}", hint="give a number with an optional unit: 20GB"
        )
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    scale = _UNITS[unit[:1]]
    if "i" in unit:
        scale = {1: 1, 1000: 1024, 1000**2: 1024**2, 1000**3: 1024**3, 1000**4: 1024**4}[scale]
    return int(number * scale)


# host[:port] then optional lower-case path segments (Docker's reference grammar, simplified);
# no scheme and no tag: iris-envs appends iris-envs/<env>:<key> itself.
_REGISTRY = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)


_REGISTRY_PORT = re.compile(r":([0-9]{1,5})\Z")


def check_registry(value: str, source: str) -> str:
    """The registry (``host[:port][/path]``) without a trailing slash; ConfigError if invalid."""
    cleaned = value.strip().rstrip("/")
    port = _REGISTRY_PORT.search(cleaned.split("/", 1)[0])
    if port is not None and not 0 < int(port.group(1)) < 65536:
        raise ConfigError(
            f"{source}: invalid registry {value!r}: port {port.group(1)} is not 1-65535",
            hint="give host[:port] with a port a registry can listen on, e.g. 127.0.0.1:5000",
        )
    if not cleaned or not _REGISTRY.fullmatch(cleaned):
        raise ConfigError(
            f"{source}: invalid registry {value!r}",
            hint="give host[:port][/lower-case/path], e.g. ghcr.io/acme/iris-envs or "
            "127.0.0.1:5000; no scheme (https://), no tag, and no credentials (use `docker login`)",
        )
    return cleaned
