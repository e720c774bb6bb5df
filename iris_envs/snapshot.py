"""Ensure a snapshot image for an environment: cache lookup, or a locked, atomic, verified build.

The build: base image -> build container -> ready -> users/namespace -> setup steps -> silence
hostname warnings -> clean stop -> commit the STOPPED container (untagged) -> start the image
once and check the test user can log in -> only then tag it. Any failure or Ctrl-C removes the
build container and the untagged image, so nothing half-built is ever visible by tag.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout

from iris_envs import __version__, naming, registry, snapshot_index
from iris_envs.cache_dir import cache_subdir
from iris_envs.containers import (
    LICENSE_TARGET,
    Owner,
    container_labels,
    container_name,
    iris_container_spec,
)
from iris_envs.docker_adapter import ContainerSpec, DockerEngine, FileToCopy, ImageInfo
from iris_envs.errors import BuildFailed, DockerOperationFailed, IrisEnvsError, NotReady
from iris_envs.explain import describe_changes, newest_snapshot
from iris_envs.key import BaseImage, compute_key
from iris_envs.manifest import EnvSpec
from iris_envs.objectscript import IRIS_OWNER_UID, ScriptFailed, run_session
from iris_envs.progress import Reporter, human_bytes
from iris_envs.readiness import wait_until_ready
from iris_envs.recipes import (
    BUILTIN_NAMESPACES,
    ENV_NAMESPACE,
    ENV_PASSWORD,
    ENV_USERNAME,
    create_namespace,
    prepare_users,
    quiet_for_snapshot,
    verify_login,
)
from iris_envs.registry import RemoteCache
from iris_envs.setup_steps import SETUP_DIR, run_step

# iris-main turns SIGTERM into a clean IRIS shutdown; a large instance may need a minute or more,
# and SIGKILL after the timeout would mean crash recovery in every container of the snapshot.
STOP_TIMEOUT = 180
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
        log_path=log_path,
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
        self.timings: dict[str, float] = {}

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        mark = time.monotonic()
        yield
        self.timings[name] = time.monotonic() - mark

    def run(self, base: BaseImage, key: str, inputs: dict[str, Any]) -> None:
        """Build, commit, verify and finally tag the snapshot."""
        spec, engine = self.spec, self.engine
        with self._phase("start"):
            container_id = self._start(base)
        with self._phase("setup"):
            self._prepare_and_setup(container_id)
        with self._phase("stop"), self.reporter.step("stop IRIS cleanly"):
            self._stop_cleanly(container_id)
        with self._phase("commit"), self.reporter.step("commit snapshot"):
            self.image_id = engine.commit(
                container_id,
                labels=_snapshot_labels(spec, key, inputs, base),
                message=f"iris-envs snapshot of {spec.name}",
            )
        engine.remove_container(container_id)
        self.container_id = None
        if spec.license is not None:
            with self.reporter.step("remove the license mount point"):
                self.image_id = self._without_mount_points(self.image_id, base)
        with self._phase("verify"), self.reporter.step("verify snapshot"):
            self._verify(self.image_id)
        # Tags last: a snapshot is visible by name only once it is known to work.
        engine.tag(self.image_id, naming.snapshot_repository(spec.name) + ":latest")
        engine.tag(self.image_id, naming.snapshot_ref(spec.name, key))
        self.succeeded = True

    def _start(self, base: BaseImage) -> str:
        spec, engine = self.spec, self.engine
        environment = {"ISC_CPF_MERGE_FILE": CPF_MERGE_TARGET} if spec.cpf_merge else {}
        container_id = engine.create_container(
            iris_container_spec(
                base.image_id or spec.image,
                spec,
                role="build",
                owner=self.owner,
                name=self.name,
                environment=environment,
            )
        )
        self.container_id = container_id
        if spec.cpf_merge is not None:
            # Copied in, not mounted: iris-main merges it at start, and the snapshot keeps it.
            engine.copy_in(
                container_id,
                str(SETUP_DIR),
                [FileToCopy(spec.cpf_merge, "merge.cpf")],
                uid=IRIS_OWNER_UID,
                gid=IRIS_OWNER_UID,
            )
        with self.reporter.step("start build container") as handle:
            engine.start(container_id)
            wait_until_ready(
                engine, container_id, timeout=spec.ready_timeout, on_progress=handle.update
            )
        return container_id

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

    def _prepare_and_setup(self, container_id: str) -> None:
        """Users, namespace, then the user's steps in order (counting fixture bytes copied)."""
        spec = self.spec
        with self.reporter.step("prepare users"):
            self._session(container_id, prepare_users(), "prepare users")
        if spec.namespace.upper() not in BUILTIN_NAMESPACES:
            what = f"create namespace {spec.namespace}"
            with self.reporter.step(what):
                self._session(
                    container_id, create_namespace(), what, extra={ENV_NAMESPACE: spec.namespace}
                )
        for step in spec.setup:
            with self.reporter.step(step.describe()) as handle:
                self.log.write(f"--- {step.describe()}\n")
                outcome = run_step(self.engine, container_id, spec, step, on_progress=handle.update)
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
        base_info = engine.inspect_image(base.image_id or base.ref)
        if base_info is None:
            raise BuildFailed(f"base image {base.ref} disappeared during the build")
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
        changes = [
            f"ENTRYPOINT {json.dumps(list(base_info.entrypoint or ()))}",
            f"CMD {json.dumps(list(base_info.cmd or ()))}",
            f"USER {base_info.user or 'root'}",
        ]
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

    def _stop_cleanly(self, container_id: str) -> None:
        self._session(container_id, quiet_for_snapshot(), "quiet hostname warnings")
        self.engine.stop(container_id, timeout=STOP_TIMEOUT)
        state = self.engine.inspect_container(container_id)
        if state is None or state.exit_code != 0:
            code = "unknown" if state is None else state.exit_code
            raise BuildFailed(
                f"IRIS did not shut down cleanly (exit code {code}); a snapshot of it would "
                "start with crash recovery, so none was committed"
            )
        _empty_messages_log(self.engine, container_id)

    def _verify(self, image_id: str) -> None:
        """Start the committed image once: it must come up cleanly and accept the test user."""
        spec, engine = self.spec, self.engine
        container_id = engine.create_container(
            iris_container_spec(
                image_id,
                spec,
                role="verify",
                owner=self.owner,
                name=container_name("verify", spec.name, self.owner),
            )
        )
        try:
            engine.start(container_id)
            wait_until_ready(engine, container_id, timeout=spec.ready_timeout)
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
            if self.image_id is not None:
                self.engine.remove_image(self.image_id, force=True)
        if self.container_id is None:
            return
        if keep_failed:
            self.reporter.line(
                f"kept the failed build container {self.name} for inspection: "
                f"docker start {self.name} && docker exec -it {self.name} iris session IRIS"
            )
            return
        with suppress(IrisEnvsError):
            self.engine.remove_container(self.container_id)


def _empty_messages_log(engine: DockerEngine, container_id: str) -> None:
    """Empty (never delete: iris-main treats a missing one as fatal) messages.log, as
    InterSystems' own image builds do, so a snapshot's log starts with its own run."""
    with tempfile.TemporaryDirectory() as folder:
        empty = Path(folder) / "messages.log"
        empty.touch()
        engine.copy_in(
            container_id,
            "/usr/irissys/mgr",
            [FileToCopy(empty, "messages.log")],
            uid=IRIS_OWNER_UID,
            gid=IRIS_OWNER_UID,
            file_mode=0o664,
            create=False,
        )


def _snapshot_labels(
    spec: EnvSpec, key: str, inputs: dict[str, Any], base: BaseImage
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
    }
