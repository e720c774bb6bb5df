"""Copy the `dat` steps' databases into a build container while IRIS starts up."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from iris_envs.dat_step import DatCopy, copy_database
from iris_envs.docker_adapter import DockerEngine
from iris_envs.errors import BuildFailed, DockerOperationFailed
from iris_envs.manifest import SetupStep, StepKind


def copy_databases_ahead(
    engine: DockerEngine,
    container_id: str,
    steps: Sequence[SetupStep],
    on_progress: Callable[[str], None] | None = None,
) -> dict[int, DatCopy]:
    """Copy every `dat` step's files right after the build container started; return each
    step's copy by step index.

    IRIS starts inside the container meanwhile (10-45 s on real IRIS), so a gigabyte copy
    overlaps the start-up instead of following the readiness wait. Adding, mounting and mapping
    still happen in step order after readiness. The copy runs here and not on a thread beside
    the readiness checks: the engine holds the container's lock while it extracts an archive,
    so every exec of those checks would wait behind it anyway, with the ready timeout running.

    Safe because the target, mgr/<database>/, is not in the instance's configuration until the
    step's session adds it (config refuses system databases and the namespace's own database
    as targets): the starting instance never opens a half-copied IRIS.DAT.
    """
    copies: dict[int, DatCopy] = {}
    for step in steps:
        if step.kind is not StepKind.DAT or step.path is None:
            continue
        if on_progress is not None:
            on_progress(f"copying {step.describe()} while IRIS starts")
        try:
            copies[step.index] = copy_database(engine, container_id, step)
        except DockerOperationFailed as failure:
            raise BuildFailed(f"{step.describe()} failed: {failure}") from failure
    return copies
