"""A pool of clone namespaces per container: kept ready in the background, claimed in an instant.

Claiming takes a clone that is already made; a released one is reset on a background thread
(dismount its copies, copy the pristine databases over them, mount them again) and goes back to
the pool. Claims are exclusive across threads (one lock, one ready queue); pytest-xdist workers
never share a container, so they never share a pool. A clone kept for inspection leaves the pool.
Everything lives in the container, which goes away with the session: a killed test process
leaves nothing a later run could reuse.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from iris_envs.config.cpf import IRIS_CPF
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import IrisEnvsError
from iris_envs.fixtures.mapping import database_directories, namespace_config
from iris_envs.instance.objectscript import IRIS_OWNER, run_session
from iris_envs.run.clone_recipes import (
    CloneSource,
    clone_directory,
    clone_namespace,
    clone_source,
    copy_command,
    create_body,
    create_environment,
    directories_environment,
    mount_state_body,
    pristine_directory,
)

DEFAULT_CLONES = 2
CLAIM_TIMEOUT = 600.0
SESSION_TIMEOUT = 600.0


class CloneFailed(IrisEnvsError):
    """A clone namespace could not be made or reset; the message says which step and why."""


@dataclass
class Clone:
    """One clone namespace of the pool."""

    number: int
    namespace: str
    claims: int = 0
    timings: list[float] = field(default_factory=list)  # seconds each claim waited


def read_source(engine: DockerEngine, container_id: str, namespace: str) -> CloneSource:
    """The namespace as iris.cpf describes it (its defaults, mappings and their directories)."""
    cpf = engine.read_file(container_id, IRIS_CPF).decode("utf-8", errors="replace")
    config = namespace_config(cpf, namespace)
    if config is None:
        raise CloneFailed(f"namespace {namespace} does not exist in the instance's iris.cpf")
    return clone_source(config, database_directories(cpf))


class ClonePool:
    """Clone namespaces of ``namespace`` in one container, ``size`` of them kept ready."""

    def __init__(
        self,
        container_id: str,
        namespace: str,
        size: int = DEFAULT_CLONES,
        *,
        engine_factory: Callable[[], DockerEngine] = DockerEngine,
    ) -> None:
        self.container_id = container_id
        self.namespace = namespace.upper()
        self.size = max(1, size)
        self._engine_factory = engine_factory
        self._ready: queue.Queue[Clone] = queue.Queue()
        self._dirty: queue.Queue[Clone | None] = queue.Queue()
        self._lock = threading.Lock()
        self._claimed: dict[str, Clone] = {}
        self._errors: list[BaseException] = []
        self._worker: threading.Thread | None = None
        self._closed = False
        self._next_number = self.size + 1
        self.kept: list[Clone] = []
        self.source: CloneSource | None = None
        self.claim_seconds: list[float] = []
        self.reset_seconds: list[float] = []

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> ClonePool:
        """Make the pristine copies now (before any test can write to the namespace), then
        the clones on a background thread."""
        with self._lock:
            if self._worker is not None:
                return self
            engine = self._engine_factory()
            self.source = read_source(engine, self.container_id, self.namespace)
            self._pristine(engine, self.source)
            for number in range(1, self.size + 1):
                self._dirty.put(Clone(number, clone_namespace(self.source, number)))
            self._worker = threading.Thread(target=self._work, name="iris-envs-clones", daemon=True)
            self._worker.start()
        return self

    def close(self) -> None:
        """Stop the background thread (the clones go away with the container)."""
        self._closed = True
        self._dirty.put(None)
        if self._worker is not None:
            self._worker.join(timeout=SESSION_TIMEOUT)

    # -- claims ----------------------------------------------------------------------------

    def claim(self, timeout: float = CLAIM_TIMEOUT) -> Clone:
        """A clean clone, exclusively; waits only while every clone is being made or reset."""
        started = time.monotonic()
        if self._worker is None:
            self.start()
        deadline = started + timeout
        while True:
            self._raise_background_error()
            try:
                clone = self._ready.get(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                break
            except queue.Empty:
                if time.monotonic() >= deadline:
                    raise CloneFailed(
                        f"no clone of {self.namespace} became ready within {timeout:.0f} s"
                    ) from None
        waited = time.monotonic() - started
        with self._lock:
            self._claimed[clone.namespace] = clone
            clone.claims += 1
            clone.timings.append(waited)
            self.claim_seconds.append(waited)
        return clone

    def release(self, clone: Clone, *, keep: bool = False) -> None:
        """Give a used clone back: reset in the background, or kept as it is for inspection
        (then it leaves the pool and a new one takes its place)."""
        with self._lock:
            self._claimed.pop(clone.namespace, None)
        if keep:
            assert self.source is not None
            with self._lock:
                self.kept.append(clone)
                number, self._next_number = self._next_number, self._next_number + 1
            self._dirty.put(Clone(number, clone_namespace(self.source, number)))
            return
        self._dirty.put(clone)

    @contextmanager
    def fresh(self) -> Iterator[Clone]:
        """``with pool.fresh() as clone:`` a clean clone for the block, reset afterwards."""
        clone = self.claim()
        try:
            yield clone
        finally:
            self.release(clone)

    # -- the background thread -------------------------------------------------------------

    def _raise_background_error(self) -> None:
        if self._errors:
            error = self._errors[0]
            raise CloneFailed(f"making a clone of {self.namespace} failed: {error}") from error

    def _work(self) -> None:
        engine = self._engine_factory()
        made: set[int] = set()
        while not self._closed:
            clone = self._dirty.get()
            if clone is None:
                return
            started = time.monotonic()
            try:
                if clone.number in made:
                    self._reset(engine, clone)
                else:
                    self._make(engine, clone)
                    made.add(clone.number)
            except BaseException as error:  # reported by the next claim
                self._errors.append(error)
                return
            self.reset_seconds.append(time.monotonic() - started)
            self._ready.put(clone)

    def _pristine(self, engine: DockerEngine, source: CloneSource) -> None:
        """Copy each database the clones copy, dismounted (a consistent copy), once."""
        directories = [database.directory for database in source.copied]
        pairs = [(d.directory, pristine_directory(d.name)) for d in source.copied]
        self._session(engine, mount_state_body(False), directories, "dismount for the copy")
        try:
            self._copy(engine, pairs)
        finally:
            self._session(engine, mount_state_body(True), directories, "mount again")

    def _make(self, engine: DockerEngine, clone: Clone) -> None:
        assert self.source is not None
        pairs = [
            (pristine_directory(d.name), clone_directory(d.name, clone.number))
            for d in self.source.copied
        ]
        self._copy(engine, pairs)
        run_session(
            engine,
            self.container_id,
            create_body(),
            namespace="%SYS",
            environment=create_environment(self.source, clone.number),
            timeout=SESSION_TIMEOUT,
            what=f"create clone namespace {clone.namespace}",
        )

    def _reset(self, engine: DockerEngine, clone: Clone) -> None:
        """Dismount the clone's copies, copy the pristine databases over them, mount again."""
        assert self.source is not None
        directories = [clone_directory(d.name, clone.number) for d in self.source.copied]
        pairs = [
            (pristine_directory(d.name), clone_directory(d.name, clone.number))
            for d in self.source.copied
        ]
        self._session(engine, mount_state_body(False), directories, f"reset {clone.namespace}")
        self._copy(engine, pairs)
        self._session(engine, mount_state_body(True), directories, f"reset {clone.namespace}")

    def _session(
        self, engine: DockerEngine, body: list[str], directories: list[str], what: str
    ) -> None:
        run_session(
            engine,
            self.container_id,
            body,
            namespace="%SYS",
            environment=directories_environment(directories),
            timeout=SESSION_TIMEOUT,
            what=what,
        )

    def _copy(self, engine: DockerEngine, pairs: list[tuple[str, str]]) -> None:
        result = engine.exec(
            self.container_id, copy_command(pairs), user=IRIS_OWNER, timeout=SESSION_TIMEOUT
        )
        if result.exit_code != 0:
            raise CloneFailed(f"copying the databases failed: {result.output.strip()[-300:]}")
