"""Ensure a snapshot image for an environment: cache lookup, or a locked, atomic, verified build.

The build: base image -> build container -> ready -> users/namespace -> setup steps -> clean
stop from inside (clean_stop.py) -> commit the container, IRIS stopped (untagged) -> start the
image once and check the test user can log in (the build container is removed meanwhile) -> only
then tag it. Any failure or Ctrl-C removes the build container and the untagged image, so
nothing half-built is ever visible by tag.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

from iris_envs import __version__, naming
from iris_envs.build.clean_stop import (
    keep_alive_entrypoint,
    restore_config_changes,
    stop_iris_cleanly,
)
from iris_envs.build.image_age import community_license_warning
from iris_envs.build.setup_steps import SETUP_DIR, run_step
from iris_envs.cache import index as snapshot_index
from iris_envs.cache.folder import cache_subdir
from iris_envs.cache.orphans import inspect_hint, keep_container
from iris_envs.config.cpf import IRIS_CPF, unmerged_settings
from iris_envs.config.databases import BUILTIN_NAMESPACES
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ContainerSpec, FileToCopy, ImageInfo
from iris_envs.errors import (
    BuildFailed,
    DockerOperationFailed,
    DockerUnavailable,
    IrisEnvsError,
    NotReady,
)
from iris_envs.fixtures.copy_ahead import copy_databases_ahead
from iris_envs.fixtures.dat_step import DatCopy
from iris_envs.instance.containers import (
    LICENSE_TARGET,
    Owner,
    container_labels,
    container_name,
    iris_container_spec,
)
from iris_envs.instance.objectscript import IRIS_OWNER, IRIS_OWNER_UID, ScriptFailed, run_session
from iris_envs.instance.readiness import WARM_CHECKS, wait_until_ready
from iris_envs.instance.recipes import (
    ENV_NAMESPACE,
    ENV_PASSWORD,
    ENV_USERNAME,
    create_namespace,
    prepare_users,
    verify_login,
)
from iris_envs.key.cache_key import BaseImage, compute_key
from iris_envs.key.explain import describe_changes, newest_snapshot
from iris_envs.progress import Reporter, human_bytes
from iris_envs.share import registry
from iris_envs.share.registry import RemoteCache

CPF_MERGE_TARGET = f"{SETUP_DIR}/merge.cpf"
ABNORMAL_SHUTDOWN = "shutdown was abnormal"


@dataclass
class Snapshot:
    """A ready snapshot image and how it was obtained."""

    env: str
    ref: str
    image_id: str
    key: str
    cached: bool
    timings: dict[str, float] = field(default_factory=dict)
    layer_bytes: int = 0
    fixture_bytes: int = 0
    tidied_bytes: int = 0  # WIJ and journal files removed before the commit
    reasons: list[str] = field(default_factory=list)
    log_path: Path | None = None
    pulled: bool = False  # came from the registry (--registry): cached, but not built here

    @property
    def state(self) -> str:
        """``cached``, ``pulled`` or ``built``, as progress, the summary and the report name it."""
        if self.pulled:
            return "pulled"
        return "cached" if self.cached else "built"


def secret_environment(spec: EnvSpec) -> dict[str, str]:
    """Exec-only variables carrying credentials into ``iris session`` (never container Env)."""
    return {ENV_USERNAME: spec.username, ENV_PASSWORD: spec.password}


def ensure_base_image(engine: DockerEngine, spec: EnvSpec, reporter: Reporter) -> BaseImage:
    """Return the base image, pulling it (with per-layer byte progress) when absent."""
    info = engine.inspect_image(spec.image)
    if info is not None:
        return BaseImage(ref=spec.image, image_id=info.id, note="")
    layers: dict[str, tuple[int, int]] = {}
    try:
        with reporter.step(f"pull {spec.image}") as handle:

            def progress(message: Any) -> None:
                detail = message.get("progressDetail") or {}
                if message.get("id") and detail.get("total"):
                    layers[message["id"]] = (int(detail.get("current", 0)), int(detail["total"]))
                    done = sum(c for c, _ in layers.values())
                    total = sum(t for _, t in layers.values())
                    handle.update(
                        f"{len(layers)} layers, {human_bytes(done)} of {human_bytes(total)}"
                    )

            info = engine.pull(spec.image, on_progress=progress)
    except DockerOperationFailed as error:
        enterprise = "containers.intersystems.com/intersystems/iris:" in spec.image
        hint = (
            "Enterprise images need `docker login containers.intersystems.com` with WRC credentials"
            if enterprise or spec.is_enterprise
            else "check the image name and tag, and that this machine can reach the registry "
            "(offline machines need the image loaded with `docker load` first)"
        )
        raise BuildFailed(
            f"environment {spec.name}: could not pull base image {spec.image}: {error}",
            hint=hint,
        ) from None
    return BaseImage(ref=spec.image, image_id=info.id, note="")


def find_cached(engine: DockerEngine, ref: str, key: str) -> ImageInfo | None:
    """The snapshot tagged ``ref`` if it really carries ``key`` (a tag alone could be stale)."""
    info = engine.inspect_image(ref)
    if info is not None and info.labels.get(naming.LABEL_KEY) == key:
        return info
    return None


def ensure_snapshot(
    engine: DockerEngine,
    spec: EnvSpec,
    *,
    owner: Owner,
    reporter: Reporter,
    rebuild: bool = False,
    keep_failed: bool = False,
    allow_build: bool = True,
    remote: RemoteCache | None = None,
) -> Snapshot:
    """Return the environment's snapshot, building it once (one build per key across processes).

    With ``remote`` a local miss first tries the registry for the exact key (registry.py), and
    ``remote.push`` publishes a snapshot built here.
    """
    started = time.monotonic()
    base = ensure_base_image(engine, spec, reporter)
    pulled = time.monotonic() - started
    _warn_about_license_age(engine, spec, base, reporter)
    result = compute_key(spec, base, spec.platform or engine.platform())
    ref = naming.snapshot_ref(spec.name, result.key)

    cached = None if rebuild else find_cached(engine, ref, result.key)
    if cached is not None:
        return _cache_hit(spec, ref, result.key, cached, reporter)
    if remote is not None and not rebuild:  # remote cache (registry.py): exact key, pre-build
        image = registry.pull_snapshot(engine, remote.registry, spec.name, result.key, reporter)
        if image is not None:
            return Snapshot(spec.name, ref, image.id, result.key, cached=True, pulled=True)
    reasons = _why_rebuild(engine, spec.name, result.inputs, rebuild)
    if not allow_build:
        raise BuildFailed(
            f"environment {spec.name} has no snapshot for its current inputs ({ref})"
            + "".join(f"\n  - {reason}" for reason in reasons),
            hint=f"build it with `iris-envs build -e {spec.name}`, or drop --no-build",
        )

    lock_path = cache_subdir("locks") / f"{result.key}.lock"
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        reporter.line(f"waiting for another iris-envs process building {ref} (lock {lock_path})")
        lock.acquire()
    try:
        cached = None if rebuild else find_cached(engine, ref, result.key)
        if cached is not None:  # another process built it while we waited
            return _cache_hit(spec, ref, result.key, cached, reporter)
        for reason in reasons:
            reporter.line(f"building snapshot: {reason}")
        snapshot = _build(
            engine,
            spec,
            base=base,
            key=result.key,
            inputs=result.inputs,
            owner=owner,
            reporter=reporter,
            keep_failed=keep_failed,
        )
    finally:
        lock.release()
    if remote is not None and remote.push and not snapshot.cached:  # remote cache: publish
        registry.push_snapshot(engine, remote.registry, spec.name, result.key, reporter)
    snapshot.timings = {"pull": pulled, **snapshot.timings}
    snapshot.reasons = reasons
    return snapshot


def _warn_about_license_age(
    engine: DockerEngine, spec: EnvSpec, base: BaseImage, reporter: Reporter
) -> None:
    """Community images stop working ~13 months after their build, and so do their snapshots."""
    if spec.is_enterprise:
        return
    info = engine.inspect_image(base.image_id or spec.image)
    warning = community_license_warning(spec.image, info.created if info else "")
    if warning:
        reporter.line(f"warning: {warning}")


def _cache_hit(spec: EnvSpec, ref: str, key: str, info: ImageInfo, reporter: Reporter) -> Snapshot:
    created = info.labels.get(naming.LABEL_CREATED, "?")
    reporter.line(f"snapshot {ref} is cached (built {created})")
    with suppress(OSError, Timeout):
        snapshot_index.record_used(ref)
    return Snapshot(env=spec.name, ref=ref, image_id=info.id, key=key, cached=True)


def _why_rebuild(
    engine: DockerEngine, env_name: str, inputs: dict[str, Any], rebuild: bool
) -> list[str]:
    """Explain a cache miss the way tox explains a recreate."""
    if rebuild:
        return ["--rebuild was given"]
    previous = newest_snapshot(engine, env_name)
    if previous is None:
        return [f"no snapshot of {env_name} exists yet"]
    try:
        old_inputs = json.loads(previous.labels.get(naming.LABEL_INPUTS, "{}"))
    except ValueError:
        return ["the newest snapshot's recorded inputs are unreadable"]
    changes = describe_changes(old_inputs, inputs)
    return changes or ["the snapshot with this key was removed"]


@contextmanager
def _build_log(spec: EnvSpec, key: str) -> Iterator[tuple[Path, IO[str]]]:
    path = cache_subdir("logs") / f"{naming.snapshot_tag(key)}-{spec.name}.log"
    with path.open("w", encoding="utf-8") as log:
        log.write(f"iris-envs {__version__} build of {spec.name}, key {key}\n")
        yield path, log


def _build(
    engine: DockerEngine,
    spec: EnvSpec,
    *,
    base: BaseImage,
    key: str,
    inputs: dict[str, Any],
    owner: Owner,
    reporter: Reporter,
    keep_failed: bool,
) -> Snapshot:
    with _build_log(spec, key) as (log_path, log):
        build = _BuildRun(engine, spec, owner=owner, reporter=reporter, log=log)
        try:
            build.run(base, key, inputs)
        except ScriptFailed as failure:
            log.write(failure.output)
            raise BuildFailed(
                f"environment {spec.name}: {failure.message}", hint=f"build log: {log_path}"
            ) from None
        except BuildFailed as failure:
            cause = failure.__cause__
            if isinstance(cause, ScriptFailed):
                log.write(cause.output)
            if isinstance(cause, DockerOperationFailed):
                _raise_if_engine_gone(engine, spec, cause)
            raise BuildFailed(
                f"environment {spec.name}: {failure.message}",
                hint=f"{failure.hint + '; ' if failure.hint else ''}build log: {log_path}",
            ) from None
        except NotReady as failure:
            raise BuildFailed(
                f"environment {spec.name}: the build container did not become ready: "
                f"{failure.message}",
                hint=f"build log: {log_path}",
            ) from None
        except DockerOperationFailed as failure:
            # The engine refused something mid-build (a commit on a full disk, ...): a build
            # failure (exit 5), with what the engine said. An engine that stopped answering
            # altogether is DockerUnavailable (exit 4) and passes through.
            _raise_if_engine_gone(engine, spec, failure)
            raise BuildFailed(
                f"environment {spec.name}: the Docker engine failed during the build: {failure}",
                hint="check the engine's free disk space (`docker system df`) and its log; "
                f"build log: {log_path}",
            ) from None
        finally:
            if not build.succeeded:
                build.clean_up(keep_failed=keep_failed)
    assert build.image_id is not None
    ref = naming.snapshot_ref(spec.name, key)
    info = engine.inspect_image(ref)
    base_info = engine.inspect_image(base.image_id) if base.image_id else None
    layer_bytes = (info.size if info else 0) - (base_info.size if base_info else 0)
    with suppress(OSError, Timeout):
        snapshot_index.record_built(
            ref, env=spec.name, key=key, image_id=build.image_id, size=info.size if info else 0
        )
    reporter.line(f"snapshot {ref} built ({human_bytes(layer_bytes)} on top of the base image)")
    return Snapshot(
        env=spec.name,
        ref=ref,
        image_id=build.image_id,
        key=key,
        cached=False,
        timings=build.timings,
        layer_bytes=layer_bytes,
        fixture_bytes=build.fixture_bytes,
        tidied_bytes=build.tidied_bytes,
        log_path=log_path,
    )


def _raise_if_engine_gone(engine: DockerEngine, spec: EnvSpec, failure: Exception) -> None:
    """Raise DockerUnavailable (exit 4) when the engine stops answering right after an error."""
    gone = engine.stopped_answering()
    if gone is not None:
        raise DockerUnavailable(
            f"environment {spec.name}: the Docker engine stopped answering during the build "
            f"(its last answer: {failure})",
            hint=gone.hint,
        )


class _BuildRun:
    """One build attempt: what it created so far, so a failure can remove exactly that."""

    def __init__(
        self,
        engine: DockerEngine,
        spec: EnvSpec,
        *,
        owner: Owner,
        reporter: Reporter,
        log: IO[str],
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.owner = owner
        self.reporter = reporter
        self.log = log
        self.name = container_name("build", spec.name, owner)
        self.container_id: str | None = None
        self.image_id: str | None = None
        self.succeeded = False
        self.fixture_bytes = 0
        self.tidied_bytes = 0
        self.timings: dict[str, float] = {}
        self.dat_copies: dict[int, DatCopy] = {}
        self.removal: tuple[threading.Thread, dict[str, BaseException], str] | None = None

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        mark = time.monotonic()
        yield
        self.timings[name] = time.monotonic() - mark

    def run(self, base: BaseImage, key: str, inputs: dict[str, Any]) -> None:
        """Build, commit, verify and finally tag the snapshot."""
        spec, engine = self.spec, self.engine
        with self._phase("start"):
            container_id = self._start(base, inputs)
        with self._phase("setup"):
            self._prepare_and_setup(container_id, inputs)
        with self._phase("stop"), self.reporter.step("stop IRIS cleanly") as handle:
            self.tidied_bytes = self._stop_cleanly(container_id)
            handle.detail = f"{human_bytes(self.tidied_bytes)} of WIJ/journal files removed"
        with self._phase("commit"), self.reporter.step("commit snapshot"):
            self.image_id = self._commit(
                container_id,
                labels=_snapshot_labels(spec, key, inputs, base, self.owner),
                # The build container ran the entrypoint under a keep-alive shell: restore it.
                changes=restore_config_changes(self._base_info(base)),
            )
        self._discard_database_copies(container_id)
        if spec.license is not None:
            self._remove_build_container_meanwhile(container_id)
            with self.reporter.step("remove the license mount point"):
                self.image_id = self._without_mount_points(self.image_id, base)
        with self._phase("verify"), self.reporter.step("verify snapshot"):
            self._verify(
                self.image_id, created=lambda: self._remove_build_container_meanwhile(container_id)
            )
        self._finish_removal()
        replaced = engine.inspect_image(naming.snapshot_ref(spec.name, key))
        # Tags last: a snapshot is visible by name only once it is known to work.
        engine.tag(self.image_id, naming.snapshot_repository(spec.name) + ":latest")
        engine.tag(self.image_id, naming.snapshot_ref(spec.name, key))
        self.succeeded = True
        if replaced is not None and replaced.id != self.image_id:
            self._remove_replaced(replaced)

    def _remove_replaced(self, replaced: ImageInfo) -> None:
        """Remove the snapshot a ``--rebuild`` of the same key replaced, which its tags left.

        Untagged, it would only hold disk space (gigabytes with fixtures) until ``gc``. Not
        forced: the engine keeps it while a container runs from it, another tag names it or a
        derived snapshot is built on it, and ``gc`` removes it once it is free.
        """
        try:
            now = self.engine.inspect_image(replaced.id)
            if now is None or now.tags:  # gone, or tagged by someone else: theirs to keep
                return
            self.engine.remove_image(replaced.id)
        except IrisEnvsError:
            return
        self.reporter.line(
            f"removed the snapshot it replaced ({replaced.id.removeprefix('sha256:')[:12]}, "
            f"{human_bytes(replaced.size)})"
        )

    def _commit(self, container_id: str, *, labels: dict[str, str], changes: list[str]) -> str:
        """Commit the build container, IRIS stopped and the keep-alive shell paused by the engine.

        An engine that cannot pause (rootless Docker on cgroup v1 has no freezer) refuses that:
        the container is then stopped, as the commit's state is the same (see clean_stop.py).
        """
        message = f"iris-envs snapshot of {self.spec.name}"
        try:
            return self.engine.commit(container_id, labels=labels, changes=changes, message=message)
        except DockerOperationFailed as error:
            if "pause" not in str(error).lower():
                raise
        self.engine.stop(container_id, timeout=10)
        return self.engine.commit(container_id, labels=labels, changes=changes, message=message)

    def _discard_database_copies(self, container_id: str) -> None:
        """Delete the build container's copies of the `dat` databases once they are committed.

        The engine syncs the whole filesystem whenever it unmounts a layer (the verify
        container's start, the build container's removal), so the build container's gigabytes
        would be written to disk only to be deleted; unlinked first, they never are (about half
        a second per gigabyte here). Best effort: the container is removed next either way.
        """
        directories = sorted(copy.directory for copy in self.dat_copies.values())
        if not directories:
            return
        with suppress(DockerOperationFailed):  # e.g. a container the fallback commit stopped
            self.engine.exec(
                container_id, ["rm", "-rf", "--", *directories], user=IRIS_OWNER, timeout=120
            )

    def _remove_build_container_meanwhile(self, container_id: str) -> None:
        """Remove the committed build container on a thread while the snapshot is verified.

        Its removal kills the keep-alive shell and unmounts the layer, which writes back what
        the build wrote (about a second per gigabyte): time the verify start can share.
        """
        if self.removal is not None:  # already under way (a license build starts it earlier)
            return
        outcome: dict[str, BaseException] = {}

        def remove() -> None:
            try:
                self.engine.remove_container(container_id)
            except BaseException as error:  # re-raised by _finish_removal
                outcome["error"] = error

        thread = threading.Thread(target=remove, name="iris-envs-remove-build", daemon=True)
        thread.start()
        self.removal = (thread, outcome, container_id)
        self.container_id = None

    def _finish_removal(self) -> None:
        """Wait for the build container's removal; a failed one is clean_up's to retry."""
        if self.removal is None:
            return
        thread, outcome, container_id = self.removal
        thread.join()
        self.removal = None
        if "error" in outcome:
            self.container_id = container_id
            raise outcome["error"]

    def _base_info(self, base: BaseImage) -> ImageInfo:
        info = self.engine.inspect_image(base.image_id or base.ref)
        if info is None:
            raise BuildFailed(f"base image {base.ref} disappeared during the build")
        return info

    def _start(self, base: BaseImage, inputs: dict[str, Any]) -> str:
        spec, engine = self.spec, self.engine
        entrypoint, command = keep_alive_entrypoint(
            self._base_info(base), CPF_MERGE_TARGET if spec.cpf_merge else None
        )
        container_spec = iris_container_spec(
            base.image_id or spec.image, spec, role="build", owner=self.owner, name=self.name
        )
        container_id = engine.create_container(
            dataclasses.replace(container_spec, entrypoint=entrypoint, command=command)
        )
        self.container_id = container_id
        if spec.cpf_merge is not None:
            # Copied in, not mounted: iris-main merges it at start, and the snapshot keeps it.
            # What was sent must be what the key hashed (the file may be edited meanwhile).
            sent: dict[str, str] = {}
            engine.copy_in(
                container_id,
                str(SETUP_DIR),
                [FileToCopy(spec.cpf_merge, "merge.cpf")],
                uid=IRIS_OWNER_UID,
                gid=IRIS_OWNER_UID,
                digests=sent,
            )
            if sent.get("merge.cpf") != inputs["cpf_merge"]["content"]["sha256"]:
                raise BuildFailed(
                    f"the CPF merge file {spec.cpf_merge} changed during the build; "
                    "nothing was committed",
                    hint="run the build again once the file is no longer being edited",
                )
        with self.reporter.step("start build container") as handle:
            engine.start(container_id)
            # The `dat` databases are copied while IRIS starts (see dat_prestage).
            self.dat_copies = copy_databases_ahead(
                engine, container_id, spec.setup, on_progress=handle.update
            )
            wait_until_ready(
                engine, container_id, timeout=spec.ready_timeout, on_progress=handle.update
            )
        if spec.cpf_merge is not None:
            self._check_cpf_merge(container_id, spec.cpf_merge)
        return container_id

    def _check_cpf_merge(self, container_id: str, merge_file: Path) -> None:
        """The merge's settings must be in iris.cpf: the log line says success regardless."""
        engine = self.engine
        cpf = engine.read_file(container_id, IRIS_CPF).decode("utf-8", errors="replace")
        merged = engine.read_file(container_id, CPF_MERGE_TARGET).decode("utf-8", errors="replace")
        missing = unmerged_settings(merged, cpf)
        if missing:
            raise BuildFailed(
                f"the CPF merge file {merge_file} did not take effect: iris.cpf lacks "
                + ", ".join(missing),
                hint="check the section and setting names (a misspelt section is ignored "
                "silently by IRIS, which still logs 'IRIS Merge completed successfully')",
            )

    def _session(
        self,
        container_id: str,
        body: list[str],
        what: str,
        *,
        extra: dict[str, str] | None = None,
    ) -> None:
        self.log.write(f"--- {what}\n")
        environment = {**secret_environment(self.spec), **(extra or {})}
        result = run_session(
            self.engine, container_id, body, namespace="%SYS", environment=environment, what=what
        )
        self.log.write(result.output + "\n")

    def _prepare_and_setup(self, container_id: str, inputs: dict[str, Any]) -> None:
        """Users, namespace, then the user's steps in order (counting fixture bytes copied).

        Each step's files are checked against the hashes in the key's ``inputs`` as they are
        copied: a file edited during the build fails it instead of being committed under a key
        that describes its old content.
        """
        spec = self.spec
        with self.reporter.step("prepare users"):
            self._session(container_id, prepare_users(), "prepare users")
        if spec.namespace.upper() not in BUILTIN_NAMESPACES:
            what = f"create namespace {spec.namespace}"
            with self.reporter.step(what):
                self._session(
                    container_id, create_namespace(), what, extra={ENV_NAMESPACE: spec.namespace}
                )
        for step, step_inputs in zip(spec.setup, inputs["setup"], strict=True):
            with self.reporter.step(step.describe()) as handle:
                self.log.write(f"--- {step.describe()}\n")
                outcome = run_step(
                    self.engine,
                    container_id,
                    spec,
                    step,
                    on_progress=handle.update,
                    expected=step_inputs.get("content"),
                    dat_copied=self.dat_copies.get(step.index),
                )
                self.log.write(outcome.output + "\n")
                self.fixture_bytes += outcome.bytes_copied
                if outcome.bytes_copied:
                    handle.detail = human_bytes(outcome.bytes_copied)

    def _without_mount_points(self, image_id: str, base: BaseImage) -> str:
        """Commit a layer that deletes the license bind-mount's mount point.

        The engine creates an empty file at a bind mount's target, and docker commit captures
        it: the snapshot would hold a root-owned, empty iris.key that irisowner cannot replace.
        A short root container deletes it; the second commit restores the base image's
        entrypoint, command and user, which the maintenance container overrode.
        """
        engine = self.engine
        changes = restore_config_changes(self._base_info(base))
        container_id = engine.create_container(
            ContainerSpec(
                image=image_id,
                name=container_name("strip", self.spec.name, self.owner),
                labels=container_labels("build", self.spec, self.owner),
                user="root",
                entrypoint=["rm", "-f", LICENSE_TARGET],
            )
        )
        self.container_id = container_id
        engine.start(container_id)
        if engine.wait(container_id, timeout=120) != 0:
            raise BuildFailed(f"could not remove the mount point {LICENSE_TARGET}")
        # Re-apply the snapshot's labels: the maintenance container's own (role=build, owner
        # pid) were merged over them and would otherwise end up on the snapshot.
        labels = engine.inspect_image(image_id)
        stripped = engine.commit(
            container_id,
            labels=labels.labels if labels else {},
            changes=changes,
            message=f"iris-envs snapshot of {self.spec.name}",
        )
        engine.remove_container(container_id)
        self.container_id = None
        # The first commit is now an untagged parent layer of the snapshot: nothing to remove.
        return stripped

    def _stop_cleanly(self, container_id: str) -> int:
        # No SYS.Container.Prevent*Message calls: every container has the same fixed hostname
        # (containers.HOSTNAME), and on error those methods end the session with exit 1, which
        # no Try/Catch contains (class reference; iris-facts.md).
        return stop_iris_cleanly(self.engine, container_id)

    def _verify(self, image_id: str, created: Callable[[], None]) -> None:
        """Start the committed image once: it must come up cleanly and accept the test user.

        ``created`` runs once its container exists (the engine makes a container's layer only
        after a removal in progress has finished).
        """
        spec, engine = self.spec, self.engine
        container_spec = iris_container_spec(
            image_id,
            spec,
            role="verify",
            owner=self.owner,
            name=container_name("verify", spec.name, self.owner),
        )
        # No published ports: the checks run through exec, and each port costs a proxy process
        # to start and stop (about 0.15 s of every build here).
        container_id = engine.create_container(dataclasses.replace(container_spec, ports=()))
        try:
            created()
            engine.start(container_id)
            # The build container passed `iris qlist` on the same files: the session probe
            # suffices here, as for every later container of the snapshot (readiness.py).
            wait_until_ready(engine, container_id, timeout=spec.ready_timeout, checks=WARM_CHECKS)
            if ABNORMAL_SHUTDOWN in engine.logs(container_id).lower():
                raise BuildFailed("the snapshot starts with an abnormal-shutdown warning")
            self._session(container_id, verify_login(), "verify test user login")
        except ScriptFailed as failure:
            self.log.write(failure.output)
            raise BuildFailed(
                f"the snapshot does not accept user {spec.username!r}: {failure.error_text}"
            ) from None
        finally:
            engine.remove_container(container_id)

    def clean_up(self, *, keep_failed: bool) -> None:
        """Leave nothing half-built behind: no untagged image, no container (unless asked)."""
        with suppress(IrisEnvsError):
            self._finish_removal()
        with suppress(IrisEnvsError):
            if self.image_id is not None:
                self.engine.remove_image(self.image_id, force=True)
        if self.container_id is None:
            return
        if keep_failed:
            name = keep_container(self.engine, self.container_id, self.name)
            self.reporter.line(
                f"kept the failed build container {name} for inspection (until `iris-envs down` "
                f"or `docker rm -f {name}`): {inspect_hint(self.engine, self.container_id, name)}"
            )
            return
        with suppress(IrisEnvsError):
            self.engine.remove_container(self.container_id)


def _snapshot_labels(
    spec: EnvSpec, key: str, inputs: dict[str, Any], base: BaseImage, owner: Owner
) -> dict[str, str]:
    return {
        naming.LABEL_MANAGED: "true",
        naming.LABEL_ROLE: "snapshot",
        naming.LABEL_KEY: key,
        naming.LABEL_ENV: spec.name,
        naming.LABEL_INPUTS: json.dumps(inputs, sort_keys=True, separators=(",", ":")),
        naming.LABEL_BASE_IMAGE: base.image_id or base.ref,
        naming.LABEL_VERSION: __version__,
        naming.LABEL_CREATED: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        # The build container's ownership labels would be inherited; blank them in the image.
        naming.LABEL_OWNER_PID: "",
        naming.LABEL_OWNER_HOST: "",
        naming.LABEL_RUN_ID: "",
        naming.LABEL_PROJECT: "",
        # Until it is verified and tagged the image is untagged and unused: this tells
        # `gc` (orphans.collect_untagged_snapshots) that a live build still owns it.
        naming.LABEL_BUILT_BY: f"{owner.host}:{owner.pid}",
    }
