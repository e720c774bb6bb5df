"""One snapshot build attempt: its phases in order, its errors translated, its leftovers removed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from filelock import Timeout

from iris_envs import __version__, naming
from iris_envs.build.clean_stop import restore_config_changes
from iris_envs.build.commit import CommitPhase, snapshot_labels
from iris_envs.build.outcome import Snapshot
from iris_envs.build.prepare import PreparePhase
from iris_envs.build.start import StartPhase
from iris_envs.build.verify import VerifyPhase
from iris_envs.cache import index as snapshot_index
from iris_envs.cache.folder import cache_folder_error, cache_subdir
from iris_envs.cache.orphans import inspect_hint, keep_container
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import (
    BuildFailed,
    DockerOperationFailed,
    DockerUnavailable,
    IrisEnvsError,
    NotReady,
    Where,
)
from iris_envs.instance.containers import Owner
from iris_envs.instance.objectscript import ScriptFailed
from iris_envs.key.cache_key import BaseImage
from iris_envs.progress import Reporter, human_bytes


class CacheFileLog:
    """The build log in the cache folder. A write the folder refuses (full, read-only) is a
    CacheFolderError naming the folder (exit 2; the build is cleaned up as for any error), not
    an OSError traceback. Each write is flushed, so closing the file has nothing left to fail."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle = handle

    def write(self, text: str, /) -> int:
        """Append ``text`` and flush it."""
        try:
            written = self._handle.write(text)
            self._handle.flush()
        except OSError as error:
            raise cache_folder_error(_about(error, self.path)) from None
        return written


def _about(error: OSError, path: Path) -> OSError:
    """``error`` naming ``path`` (a failed write or flush names no file)."""
    return OSError(error.errno, error.strerror, error.filename or str(path))


@contextmanager
def build_log(spec: EnvSpec, key: str) -> Iterator[tuple[Path, CacheFileLog]]:
    path = cache_subdir("logs") / f"{naming.snapshot_tag(key)}-{spec.name}.log"
    try:
        handle = path.open("w", encoding="utf-8")
    except OSError as error:
        raise cache_folder_error(_about(error, path)) from None
    try:
        log = CacheFileLog(path, handle)
        log.write(f"iris-envs {__version__} build of {spec.name}, key {key}\n")
        yield path, log
    finally:
        with suppress(OSError):  # every write was flushed: nothing is lost
            handle.close()


def build_snapshot(
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
    with build_log(spec, key) as (log_path, log):
        build = BuildAttempt(engine, spec, owner=owner, reporter=reporter, log=log)
        try:
            build.run(base, key, inputs)
        except ScriptFailed as failure:
            log.write(failure.output)
            raise _failed(
                f"environment {spec.name}: {failure.message}", f"build log: {log_path}", log_path
            ) from None
        except BuildFailed as failure:
            cause = failure.__cause__
            if isinstance(cause, ScriptFailed):
                log.write(cause.output)
            log.write(f"\nfailed: {failure.message}\n")  # the log ends with why
            if isinstance(cause, DockerOperationFailed):
                _raise_if_engine_gone(engine, spec, cause)
            raise _failed(
                f"environment {spec.name}: {failure.message}",
                f"{failure.hint + '; ' if failure.hint else ''}build log: {log_path}",
                log_path,
                failure.where,
            ) from None
        except NotReady as failure:
            raise _failed(
                f"environment {spec.name}: the build container did not become ready: "
                f"{failure.message}",
                f"build log: {log_path}",
                log_path,
            ) from None
        except DockerOperationFailed as failure:
            # The engine refused something mid-build (a commit on a full disk, ...): a build
            # failure (exit 5), with what the engine said. An engine that stopped answering
            # altogether is DockerUnavailable (exit 4) and passes through.
            _raise_if_engine_gone(engine, spec, failure)
            raise _failed(
                f"environment {spec.name}: the Docker engine failed during the build: {failure}",
                "check the engine's free disk space (`docker system df`) and its log; "
                f"build log: {log_path}",
                log_path,
            ) from None
        finally:
            if not build.succeeded:
                build.clean_up(keep_failed=keep_failed)
    assert build.image_id is not None
    ref = naming.snapshot_ref(spec.project_root, spec.name, key)
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


def _failed(message: str, hint: str, log_path: Path, where: Where | None = None) -> BuildFailed:
    """The attempt's error, naming its build log (the report and GitHub's folded log use it)."""
    failure = BuildFailed(message, hint=hint, where=where)
    failure.build_log = log_path
    return failure


def _raise_if_engine_gone(engine: DockerEngine, spec: EnvSpec, failure: Exception) -> None:
    """Raise DockerUnavailable (exit 4) when the engine stops answering right after an error."""
    gone = engine.stopped_answering()
    if gone is not None:
        raise DockerUnavailable(
            f"environment {spec.name}: the Docker engine stopped answering during the build "
            f"(its last answer: {failure})",
            hint=gone.hint,
        )


class BuildAttempt(StartPhase, PreparePhase, CommitPhase, VerifyPhase):
    """One build attempt: its phases in order, and a clean-up that removes exactly what it made."""

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
                labels=snapshot_labels(spec, key, inputs, base, self.owner),
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
        ref = naming.snapshot_ref(spec.project_root, spec.name, key)
        replaced = engine.inspect_image(ref)
        # Tags last: a snapshot is visible by name only once it is known to work. Only this
        # project's names: another project's tags on an identical snapshot stay where they are.
        engine.tag(self.image_id, naming.latest_ref(spec.project_root, spec.name))
        engine.tag(self.image_id, ref)
        self.succeeded = True
        if replaced is not None and replaced.id != self.image_id:
            self._remove_replaced(replaced)

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
