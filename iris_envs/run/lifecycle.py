"""One warm instance for library callers (nox sessions, plugins): snapshot, start, remove.

The same steps `iris-envs run` takes for one environment, as a context manager: the snapshot is
built or reused (one build per key across processes), a warm spare is claimed or a container
started, and the container is removed when the block ends, also on an exception or Ctrl-C.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from iris_envs.build.outcome import Snapshot
from iris_envs.build.snapshot import ensure_snapshot
from iris_envs.cache.orphans import inspect_hint, keep_container
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import IrisEnvsError
from iris_envs.instance.containers import Owner
from iris_envs.progress import Reporter
from iris_envs.run import spares
from iris_envs.run.instance import Instance, start_instance


def acquire(
    engine: DockerEngine, spec: EnvSpec, snapshot: Snapshot, *, owner: Owner, reporter: Reporter
) -> Instance:
    """A warm spare of the snapshot's key (stale spares removed first), else a new container."""
    spares.discard_stale(
        engine, spec, snapshot.key, image_id=snapshot.image_id, on_removed=reporter.line
    )
    with reporter.step("claim a warm spare") as handle:
        claimed = spares.claim(
            engine,
            spec,
            snapshot.ref,
            snapshot.key,
            owner=owner,
            image_id=snapshot.image_id,
            on_progress=handle.update,
        )
        handle.detail = claimed.container.name if claimed else "none available"
    if claimed is not None:
        return claimed
    with reporter.step("start container") as handle:
        return start_instance(engine, spec, snapshot.ref, owner=owner, on_progress=handle.update)


@contextmanager
def warm_instance(
    spec: EnvSpec,
    *,
    engine: DockerEngine | None = None,
    owner: Owner | None = None,
    reporter: Reporter | None = None,
    allow_build: bool = True,
    keep: Callable[[], bool] | None = None,
) -> Iterator[Instance]:
    """A ready container of ``spec``'s snapshot for the duration of the block.

    When ``keep`` says so at the end, the container is kept (renamed so no gc takes it) and the
    way in is printed, as ``run --keep-on-failure`` does.
    """
    engine = engine or DockerEngine()
    owner = owner or Owner()
    reporter = reporter or Reporter(spec.name)
    snapshot = ensure_snapshot(
        engine, spec, owner=owner, reporter=reporter, allow_build=allow_build
    )
    instance = acquire(engine, spec, snapshot, owner=owner, reporter=reporter)
    try:
        yield instance
    finally:
        if keep is not None and keep():
            name = keep_container(engine, instance.container.id, instance.container.name)
            reporter.line(
                f"kept container {name} after a failure: "
                + inspect_hint(engine, instance.container.id, name)
            )
        else:
            with suppress(IrisEnvsError):
                engine.remove_container(instance.container.id)
