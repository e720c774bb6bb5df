"""Checks of everything iris-envs depends on, each with a verdict and a fix (`iris-envs doctor`).

Every check is a small function returning a Check; none raises. ``preflight`` is the cheap
subset `run` and `build` use to stop early with the same message instead of failing later with
a stack of engine errors.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iris_envs.errors import CacheFolderError, DockerUnavailable, IrisEnvsError

PASS, WARN, FAIL = "pass", "warn", "fail"
LOW_DISK_BYTES = 5 * 1024**3  # a real IRIS image is ~1-3 GB, each snapshot adds its data
COMMUNITY_CORE_LIMIT = 20  # the Community Edition refuses to start on more (iris-facts.md)
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    status: str  # pass | warn | fail
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def check_engine(engine: Any) -> tuple[Check, dict[str, Any] | None]:
    """Which engine was chosen and why; is it reachable; its version and storage driver."""
    from iris_envs.engine.client import UNREACHABLE_HINT

    fix = f"{UNREACHABLE_HINT} (as root on Linux: `bash scripts/ensure-docker` from a checkout)"
    try:
        endpoint = engine.endpoint
    except IrisEnvsError as error:  # a Docker context that does not exist
        return Check("engine", FAIL, error.message, error.hint or fix), None
    try:
        info = engine.info()
    except DockerUnavailable as error:  # names the engine, why it was chosen, what was tried
        hint = fix if error.hint in (None, UNREACHABLE_HINT) else error.hint
        return Check("engine", FAIL, error.message, hint), None
    except IrisEnvsError as error:
        detail = f"no Docker engine answers at {endpoint.describe()}: {error.message}"
        return Check("engine", FAIL, detail, fix), None
    detail = (
        f"Docker {info.get('ServerVersion', '?')} at {endpoint.describe()}, "
        f"storage driver {info.get('Driver', '?')}"
    )
    try:
        client = engine.client_network()
    except IrisEnvsError:
        client = None
    if client is not None:
        detail += (
            f"; this process runs in its container {client.container[:12]}, so IRIS is reached "
            f"over network {client.network} (IRIS_ENVS_PUBLISH_ADDRESS overrides)"
        )
    return Check("engine", PASS, detail), info


def _free(path: Path) -> int | None:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def check_engine_disk(info: dict[str, Any] | None) -> Check:
    """Free space where the engine keeps images (local engines only)."""
    from iris_envs.engine.host import LOCALHOST, engine_host

    if info is None:
        return Check("engine disk", PASS, "skipped (no engine)")
    root = info.get("DockerRootDir")
    if not root or engine_host() != LOCALHOST or not Path(root).exists():
        return Check(
            "engine disk",
            PASS,
            "not measurable from here (a remote engine, or run from a container)",
        )
    free = _free(Path(root))
    return _disk_verdict("engine disk", Path(root), free, "docker system df; iris-envs cache prune")


def check_cache_disk() -> Check:
    from iris_envs.cache.folder import cache_location

    location = cache_location()
    return _disk_verdict(
        "cache disk", location, _free(location), "free space, or set IRIS_ENVS_CACHE_DIR"
    )


def _disk_verdict(name: str, path: Path, free: int | None, fix: str) -> Check:
    from iris_envs.progress import human_bytes

    if free is None:
        return Check(name, WARN, f"cannot measure the free space of {path}", fix)
    detail = f"{human_bytes(free)} free at {path}"
    if free < LOW_DISK_BYTES:
        return Check(name, WARN, detail + f" (under {human_bytes(LOW_DISK_BYTES)})", fix)
    return Check(name, PASS, detail)


def check_cache_writable() -> Check:
    """Can the cache folder be created and written?"""
    from iris_envs.cache.folder import cache_location, cache_root

    try:
        root = cache_root()
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
    except CacheFolderError as error:
        return Check("cache folder", FAIL, error.message, error.hint or "")
    except OSError as error:
        return Check(
            "cache folder",
            FAIL,
            f"the cache folder {cache_location()} is not writable: {error.strerror or error}",
            "fix its permissions, or point IRIS_ENVS_CACHE_DIR at a writable folder",
        )
    return Check("cache folder", PASS, f"{root} is writable")


def check_config(config: Path | None) -> tuple[Check, Any]:
    """Does the configuration load?"""
    from iris_envs.config.load import load_project

    try:
        project = load_project(config)
    except IrisEnvsError as error:
        return Check(
            "configuration", FAIL, error.message, error.hint or "see docs/configuration.md"
        ), None
    where = project.config_file or f"{project.root} (zero-configuration)"
    loaded = f"{len(project.envs)} environment(s) from {where}"
    broken = [spec.problem for spec in project.envs.values() if spec.problem]
    if broken:
        detail = f"{loaded}; {len(broken)} cannot be used: {broken[0]}"
        return Check("configuration", FAIL, detail, "fix the environment's input files"), project
    return Check("configuration", PASS, loaded), project


def check_cpus(info: dict[str, Any] | None, project: Any) -> Check:
    """The Community Edition refuses to start on more than 20 cores."""
    cores = (info or {}).get("NCPU") or os.cpu_count() or 0
    community = [s.name for s in (project.envs.values() if project else ()) if not s.is_enterprise]
    if community and cores > COMMUNITY_CORE_LIMIT:
        return Check(
            "cpu count",
            WARN,
            f"the engine has {cores} CPUs; the Community Edition refuses more than "
            f"{COMMUNITY_CORE_LIMIT} ({', '.join(community)})",
            "run the engine on (or limit it to) 20 CPUs or fewer, or use an enterprise image",
        )
    return Check("cpu count", PASS, f"{cores} CPUs")


def check_architecture(info: dict[str, Any] | None, project: Any, engine: Any) -> Check:
    """An image with no build for the engine's architecture (or the environment's `platform`)
    fails to pull or start; one for another architecture runs emulated, slowly."""
    if info is None or project is None:
        return Check("architecture", PASS, "skipped (no engine or configuration)")
    arch = str(info.get("Architecture", ""))
    native = f"{info.get('OSType') or 'linux'}/{_ARCH.get(arch, arch)}"
    missing: list[str] = []
    emulated: list[str] = []
    suggestion = ""
    for spec in project.envs.values():
        target = "/".join(spec.platform.split("/")[:2]) if spec.platform else native
        available = _builds(engine, spec.image, target, asked=bool(spec.platform))
        if available is None:
            continue  # not pulled, and its registry cannot be asked from here
        if target not in available:
            only = ", ".join(available)
            missing.append(f"{spec.name}: {spec.image} has no {target} build (only {only})")
            suggestion = suggestion or available[0]
        elif target != native:
            emulated.append(f"{spec.name} ({target})")
    if missing:
        return Check(
            "architecture",
            WARN,
            f"the engine is {native}; " + "; ".join(missing),
            f'set `platform = "{suggestion}"` (a platform the image has) in the environment to '
            "run it emulated, or use an image built for the engine's architecture (IRIS images "
            "are published for amd64 and arm64)",
        )
    if emulated:
        return Check(
            "architecture",
            WARN,
            f"the engine is {native}; these environments run emulated (slow): "
            + ", ".join(emulated),
            "keep it only where no native image exists (Docker Desktop and Colima emulate with "
            "Rosetta or QEMU; a Linux engine needs binfmt/qemu-user-static)",
        )
    return Check("architecture", PASS, f"engine {native}; every environment's image has a build")


def _builds(engine: Any, image: str, target: str, *, asked: bool) -> list[str] | None:
    """The platforms ``image`` has: the local image's, else its registry's (also when the
    environment asked for a platform the local image is not); None if unknown."""
    try:
        local = engine.inspect_image(image)
    except IrisEnvsError:
        local = None
    if local is not None and local.platform == target:
        return [target]
    if local is None or asked:
        remote = engine.image_platforms(image)
        if remote:
            return list(remote)
    return [local.platform] if local is not None else None


def check_licenses(project: Any) -> Check:
    """Enterprise environments need a readable license key file."""
    problems = []
    for spec in project.envs.values() if project else ():
        if not spec.is_enterprise or spec.license is None:
            continue
        path = spec.license.path
        if not path.is_file() or not os.access(path, os.R_OK):
            problems.append(f"{spec.name}: {path}")
    if problems:
        return Check(
            "license",
            FAIL,
            "license key missing or unreadable for " + "; ".join(problems),
            "point `license` at a readable iris.key (or the variable it names)",
        )
    return Check("license", PASS, "every enterprise environment's key is readable")


def check_leftovers(engine: Any, info: dict[str, Any] | None) -> Check:
    """Orphaned containers and untagged snapshot images that `gc` would remove."""
    if info is None:
        return Check("leftovers", PASS, "skipped (no engine)")
    from iris_envs import naming
    from iris_envs.cache.orphans import is_orphan, untagged_snapshots

    try:
        orphans = [
            c for c in engine.containers_by_label({naming.LABEL_MANAGED: "true"}) if is_orphan(c)
        ]
        untagged = untagged_snapshots(engine)
    except IrisEnvsError as error:
        return Check("leftovers", WARN, f"could not list them: {error.message}")
    if orphans or untagged:
        return Check(
            "leftovers",
            WARN,
            f"{len(orphans)} orphaned container(s), {len(untagged)} untagged snapshot image(s)",
            "iris-envs gc (and `iris-envs cache prune` for old snapshots)",
        )
    return Check("leftovers", PASS, "no orphaned containers or untagged snapshot images")


def check_stale_snapshots(
    engine: Any, info: dict[str, Any] | None, project: Any, config: Path | None = None
) -> Check:
    """Snapshots of this project's environments built for keys that are no longer current
    (never another project's snapshots of an environment with the same name)."""
    if info is None or project is None:
        return Check("stale snapshots", PASS, "skipped (no engine or configuration)")
    from iris_envs import naming
    from iris_envs.cache.lookup import project_images
    from iris_envs.key.cache_key import compute_key, effective_platform, resolve_base_image

    stale: list[str] = []
    try:
        for spec in (s for s in project.envs.values() if not s.problem):
            base = resolve_base_image(engine, spec.image)
            key = compute_key(spec, base, effective_platform(spec, engine)).key
            stale += [
                spec.name
                for image in project_images(engine, spec.project_root, spec.name)
                if image.labels.get(naming.LABEL_KEY) != key
            ]
    except (IrisEnvsError, OSError) as error:
        return Check("stale snapshots", WARN, f"could not compare keys: {error}")
    if stale:
        counts = ", ".join(f"{name} ({stale.count(name)})" for name in dict.fromkeys(stale))
        return Check(
            "stale snapshots",
            WARN,
            f"{len(stale)} snapshot(s) built for keys no longer current: {counts}",
            f"iris-envs cache prune --keep 1{f' -c {config}' if config else ''} (this project's "
            "newest per environment; --dry-run lists them)",
        )
    return Check(
        "stale snapshots", PASS, "every snapshot of this project's environments is current"
    )


def run_checks(engine: Any, config: Path | None) -> list[Check]:
    """Every check, in the order a user fixes things."""
    engine_check, info = check_engine(engine)
    config_check, project = check_config(config)
    return [
        engine_check,
        check_engine_disk(info),
        check_cache_writable(),
        check_cache_disk(),
        config_check,
        check_cpus(info, project),
        check_architecture(info, project, engine),
        check_licenses(project),
        check_leftovers(engine, info),
        check_stale_snapshots(engine, info, project, config),
    ]


def preflight(engine: Any) -> None:
    """The cheap checks `run` and `build` make first; raise the doctor's message on a failure."""
    engine_check, _info = check_engine(engine)
    if engine_check.status == FAIL:
        raise DockerUnavailable(engine_check.detail, hint=engine_check.fix)
    cache_check = check_cache_writable()
    if cache_check.status == FAIL:
        raise CacheFolderError(cache_check.detail, hint=cache_check.fix)
