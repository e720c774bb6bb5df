"""A pool of clone namespaces per container: kept ready in the background, claimed in an instant.

Claiming takes a clone that is already made; a released one is reset on a background thread
(dismount its copies, copy the pristine databases over them, mount them again) and goes back to
the pool. Claims are exclusive across threads (one lock, one ready queue); pytest-xdist workers
never share a container, so they never share a pool. A clone kept for inspection leaves the pool.
Everything lives in the container, which goes away with the session: a killed test process
leaves nothing a later run could reuse.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from iris_envs.config.cpf import IRIS_CPF
from iris_envs.engine.adapter import DockerEngine
from iris_envs.fixtures.mapping import database_directories, namespace_config
from iris_envs.run.clone_recipes import CloneSource, clone_namespace, clone_source
from iris_envs.run.clone_steps import (
    SESSION_TIMEOUT,
    CloneFailed,
    claim_numbers,
    make_clones,
    make_pristine,
    reset_clones,
)

DEFAULT_CLONES = 2
# Background threads making and resetting clones. One: the clones released while a reset runs
# are reset together in the next batch (one exec and one session for all),
# which measured faster than two threads competing for the same disk and cores
# (benchmarks/clone_bench.py, refill of 4 clones: 1.8x four plain cp with one, 2.6x with two).
WORKERS = 1
# Every batch costs one exec and one session whatever its size, so the worker gathers released
# clones while enough are ready to claim: until fewer than half the pool is ready (then for
# COALESCE_SECONDS more, for releases that come at once), until a claim or wait_ready() waits,
# or until the oldest release has waited GATHER_SECONDS (slow tests get their clones back soon;
# fast ones share a batch: with `clones = 8`, about four clones per exec instead of one).
COALESCE_SECONDS = 0.02
GATHER_SECONDS = 0.5
CLAIM_TIMEOUT = 600.0


@dataclass
class Clone:
    """One clone namespace of the pool (its number and namespace given when it is made)."""

    number: int = 0
    namespace: str = ""
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
        # One lock and one condition over the pool's state: claims, releases and the worker wait
        # on it and are woken by the change they wait for (no polling, no wake-up latency).
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ready: deque[Clone] = deque()
        self._dirty: list[Clone] = []  # released (or still to make), waiting for the worker
        self._dirty_since = 0.0  # when the oldest of them was released
        self._waiting = 0  # claims (and wait_ready calls) waiting for ready clones
        self._claimed: dict[str, Clone] = {}
        self._errors: list[BaseException] = []
        self._workers: list[threading.Thread] = []
        self._closed = False
        self.kept: list[Clone] = []
        self.source: CloneSource | None = None
        self.claim_seconds: list[float] = []
        self.reset_seconds: list[float] = []
        self.batch_sizes: list[int] = []

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> ClonePool:
        """Make the pristine copies now (before any test can write to the namespace), then
        the clones on a background thread."""
        with self._lock:
            if self._workers:
                return self
            engine = self._engine_factory()
            self.source = read_source(engine, self.container_id, self.namespace)
            make_pristine(engine, self.container_id, self.source)
            self._add_dirty([Clone() for _ in range(self.size)])
            for index in range(WORKERS):
                worker = threading.Thread(
                    target=self._work, name=f"iris-envs-clones-{index}", daemon=True
                )
                worker.start()
                self._workers.append(worker)
        return self

    def close(self) -> None:
        """Stop the background thread (the clones go away with the container)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        for worker in self._workers:
            worker.join(timeout=SESSION_TIMEOUT)

    # -- claims ----------------------------------------------------------------------------

    def claim(self, timeout: float = CLAIM_TIMEOUT) -> Clone:
        """A clean clone, exclusively; waits only while every clone is being made or reset."""
        started = time.monotonic()
        if not self._workers:
            self.start()
        with self._changed:
            found = bool(self._ready)
            if not found:
                self._waiting += 1
                self._changed.notify_all()  # the worker stops gathering releases: one is wanted
                try:
                    found = bool(
                        self._changed.wait_for(lambda: self._ready or self._errors, timeout)
                    )
                finally:
                    self._waiting -= 1
            self._raise_background_error()
            if not found:
                raise CloneFailed(
                    f"no clone of {self.namespace} became ready within {timeout:.0f} s"
                )
            clone = self._ready.popleft()
            waited = time.monotonic() - started
            self._claimed[clone.namespace] = clone
            clone.claims += 1
            clone.timings.append(waited)
            self.claim_seconds.append(waited)
        return clone

    def release(self, clone: Clone, *, keep: bool = False) -> None:
        """Give a used clone back: reset in the background, or kept as it is for inspection
        (then it leaves the pool and a new one takes its place)."""
        with self._changed:
            self._claimed.pop(clone.namespace, None)
            if keep:
                self.kept.append(clone)
            self._add_dirty([Clone() if keep else clone])

    def wait_ready(self, count: int | None = None, timeout: float = CLAIM_TIMEOUT) -> None:
        """Block until ``count`` clones (default: the pool's size) are ready to claim."""
        wanted = self.size if count is None else count
        with self._changed:
            self._waiting += 1  # the worker stops gathering: every clone is wanted now
            self._changed.notify_all()
            try:
                full = self._changed.wait_for(
                    lambda: len(self._ready) >= wanted or self._errors, timeout
                )
            finally:
                self._waiting -= 1
            self._raise_background_error()
            if not full:
                raise CloneFailed(f"fewer than {wanted} clones of {self.namespace} are ready")

    @contextmanager
    def fresh(self) -> Iterator[Clone]:
        """``with pool.fresh() as clone:`` a clean clone for the block, reset afterwards."""
        clone = self.claim()
        try:
            yield clone
        finally:
            self.release(clone)

    # -- the background thread -------------------------------------------------------------

    def _add_dirty(self, clones: list[Clone]) -> None:
        """(Under the lock.) Hand clones to the worker."""
        if not self._dirty:
            self._dirty_since = time.monotonic()
        self._dirty.extend(clones)
        self._changed.notify_all()

    def _raise_background_error(self) -> None:
        if self._errors:
            error = self._errors[0]
            raise CloneFailed(f"making a clone of {self.namespace} failed: {error}") from error

    def _gather_left(self) -> float:
        """(Under the lock.) Seconds the worker may still gather released clones before it
        starts on them; 0 when it should start now (see GATHER_SECONDS)."""
        if self._closed or self._waiting > 0:
            return 0.0
        age = time.monotonic() - self._dirty_since
        if len(self._ready) < max(1, self.size // 2):
            return max(0.0, COALESCE_SECONDS - age)
        return max(0.0, GATHER_SECONDS - age)

    def _next_batch(self) -> list[Clone] | None:
        """The clones to make or reset next (None when the pool closes): every clone released
        so far, gathered while enough others are ready (_gather_left), so one round trip and
        one session serve several."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._dirty)
            while (left := self._gather_left()) > 0:
                self._changed.wait(timeout=left)
            if self._closed:
                return None
            batch, self._dirty = self._dirty, []
            return batch

    def _work(self) -> None:
        engine = self._engine_factory()
        source = self.source
        assert source is not None  # read by start() before any worker runs
        while True:
            clones = self._next_batch()
            if clones is None:
                return
            # Decided before anything is handed out: a clone made in this batch may be claimed
            # (and written to) at once, and must not be reset under the test then.
            used = [clone for clone in clones if clone.number]
            started = time.monotonic()
            try:
                new = [clone for clone in clones if not clone.number]
                if new:
                    make_new(engine, self.container_id, source, new, self._hand_out)
                if used:
                    reset_clones(engine, self.container_id, source, [c.number for c in used])
            except BaseException as error:  # reported by the next claim
                with self._changed:
                    self._errors.append(error)
                    self._changed.notify_all()
                return
            self.reset_seconds.append(time.monotonic() - started)
            self.batch_sizes.append(len(used))
            self._hand_out(used)

    def _hand_out(self, clones: list[Clone]) -> None:
        with self._changed:
            self._ready.extend(clones)
            self._changed.notify_all()


def make_new(
    engine: DockerEngine,
    container_id: str,
    source: CloneSource,
    new: list[Clone],
    hand_out: Callable[[list[Clone]], None],
) -> None:
    """Number (container-wide) and make new clones: the first alone, as a test may be waiting
    for it, the others together (one exec for their numbers, one for their copies, one session
    for their namespaces); each group handed out as soon as it is made."""
    numbers = claim_numbers(engine, container_id, len(new))
    for group in (new[:1], new[1:]):
        if not group:
            continue
        taken, numbers = numbers[: len(group)], numbers[len(group) :]
        make_clones(engine, container_id, source, taken)
        for clone, number in zip(group, taken, strict=True):
            clone.number, clone.namespace = number, clone_namespace(source, number)
        hand_out(group)


_POOLS: dict[tuple[str, str], ClonePool] = {}
_POOLS_LOCK = threading.Lock()


def shared_pool(container_id: str, namespace: str, size: int = DEFAULT_CLONES) -> ClonePool:
    """The process's pool of ``namespace`` clones in that container, started on first use (its
    pristine copies are taken then: before anything writes to the namespace, where it matters)."""
    key = (container_id, namespace.upper())
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = ClonePool(container_id, namespace, size)
    return pool.start()


def close_pools(container_id: str | None = None) -> None:
    """Stop the background threads of the pools (of one container, or all)."""
    with _POOLS_LOCK:
        keys = [key for key in _POOLS if container_id in (None, key[0])]
        pools = [_POOLS.pop(key) for key in keys]
    for pool in pools:
        pool.close()
