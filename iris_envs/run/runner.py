"""Run a command against each selected environment in a warm container, then clean up."""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path

from iris_envs import naming
from iris_envs.build.outcome import Snapshot
from iris_envs.build.snapshot import current_key, ensure_snapshot
from iris_envs.cache.orphans import inspect_hint, keep_container
from iris_envs.config.spec import EnvSpec
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.client import vanished_engine_error
from iris_envs.errors import ConfigError, Interrupted, IrisEnvsError
from iris_envs.exit_codes import ExitCode
from iris_envs.instance.containers import Owner
from iris_envs.monitor.watch import watch
from iris_envs.progress import Reporter, use_live_output
from iris_envs.run import lifecycle, placeholders, spares
from iris_envs.run.command import Cancellation, run_command
from iris_envs.run.instance import Instance
from iris_envs.run.results import (
    EnvResult,
    record_error,
    record_instance,
    record_iris_log,
    record_snapshot,
)
from iris_envs.run.up_instance import find_up_instance, refuse_stale_up
from iris_envs.share.registry import RemoteCache


@dataclass(frozen=True)
class RunOptions:
    """What ``iris-envs run`` was asked to do."""

    command: tuple[str, ...]
    parallel: int = 1
    keep: bool = False
    keep_on_failure: bool = False
    allow_build: bool = True
    reuse: bool = False
    rebuild: bool = False
    spares: int | None = None  # --spares N; None: $IRIS_ENVS_SPARES or the env's `spares`
    remote: RemoteCache | None = None  # --registry/--push: the registry as a remote cache
    output: Path | None = None  # --output DIR: {env_dir} is DIR/ENV (else .iris-envs/ENV)
    monitor: bool = False  # --monitor: sample IRIS in every environment (else its `monitor`)


def run_environments(
    engine: DockerEngine, envs: Sequence[EnvSpec], options: RunOptions, owner: Owner
) -> list[EnvResult]:
    """Run the command in every environment (sequentially or ``parallel`` at a time).

    Ctrl-C stops the run after cleanup; the interrupted environment says so in its result.
    """
    results = [EnvResult(env=spec.name) for spec in envs]
    cancellation = Cancellation()
    run_one = functools.partial(
        _run_one, engine, options=options, owner=owner, cancellation=cancellation
    )
    if options.parallel <= 1 or len(envs) == 1:
        for spec, result in zip(envs, results, strict=True):
            try:
                run_one(spec, result=result, stream=True)
            except KeyboardInterrupt:
                break
        return results
    print_lock = threading.Lock()

    def work(spec: EnvSpec, result: EnvResult) -> None:
        run_one(spec, result=result, stream=False)
        # Each environment's output is printed whole, so parallel outputs never interleave.
        with print_lock:
            sys.stdout.write(f"===== {spec.name}: output =====\n{result.output}")
            if result.output and not result.output.endswith("\n"):
                sys.stdout.write("\n")
            sys.stdout.flush()

    board = status_board(results)
    with ThreadPoolExecutor(max_workers=options.parallel) as pool, board:
        futures = [pool.submit(work, s, r) for s, r in zip(envs, results, strict=True)]
        try:
            for future in futures:
                while not future.done():
                    time.sleep(0.1)  # short sleeps keep the main thread responsive to Ctrl-C
        except KeyboardInterrupt:
            stopping = cancellation.cancel()
            # Builds and starts run in the workers, out of reach of the KeyboardInterrupt:
            # removing this run's containers makes their next engine call fail at once, and
            # their own cleanup (untagged images, the lock) runs as on any failure.
            _remove_run_containers(engine, owner)
            for thread in stopping:
                thread.join()
            for future in futures:
                with suppress(Exception):
                    future.result()
            for result in results:
                if result.status == "pending":
                    result.status, result.exit_code = "interrupted", int(ExitCode.INTERRUPTED)
    return results


def _remove_run_containers(engine: DockerEngine, owner: Owner) -> None:
    """Remove every container this invocation created (build, verify, run) or claimed (a spare
    carries the run id of the run that started it, and its claimant's pid in its name)."""
    with suppress(IrisEnvsError):
        ours = engine.containers_by_label(
            {naming.LABEL_MANAGED: "true", naming.LABEL_RUN_ID: owner.run_id}
        )
        claimed = [
            c
            for c in engine.containers_by_label(
                {naming.LABEL_MANAGED: "true", naming.LABEL_ROLE: spares.SPARE_ROLE}
            )
            if spares.claimant_pid(c) == owner.pid
        ]
        for container in ours + claimed:
            with suppress(IrisEnvsError):
                engine.remove_container(container.id)


def _command(
    engine: DockerEngine,
    instance: Instance,
    options: RunOptions,
    result: EnvResult,
    *,
    cancellation: Cancellation,
    stream: bool,
) -> None:
    """Run the command in the instance (monitored when asked); record its code and time."""
    mark = time.monotonic()
    spec, container_id = instance.spec, instance.container.id
    # A ^SystemPerformance report goes where {env_dir} points (.iris-envs/ENV or --output DIR/ENV)
    folder = placeholders.env_dir(spec.project_root, spec.name, options.output)
    if spec.monitor == "systemperformance":
        with suppress(OSError):  # else the profile's copy fails and its report says why
            placeholders.make_env_dir(folder)
    with watch(engine, spec, container_id, output=folder, forced=options.monitor) as watching:
        code, output = run_command(result.command, instance.variables, cancellation, stream)
    result.timings["command"] = time.monotonic() - mark
    result.monitoring = watching.report()
    result.output, result.exit_code = output, code
    result.status = "passed" if code == 0 else "failed"


def _run_one(
    engine: DockerEngine,
    spec: EnvSpec,
    *,
    options: RunOptions,
    owner: Owner,
    result: EnvResult,
    cancellation: Cancellation,
    stream: bool,
) -> None:
    reporter = Reporter(spec.name, live=stream)
    instance: Instance | None = None
    snapshot: Snapshot | None = None
    reused = False
    mark = result.started = time.monotonic()
    result.phase = "snapshot"
    try:
        if options.reuse:  # a stale `up` container is refused before anything is built
            refuse_stale_up(engine, spec, current_key(engine, spec, reporter))
        snapshot = ensure_snapshot(
            engine,
            spec,
            owner=owner,
            reporter=reporter,
            rebuild=options.rebuild,
            allow_build=options.allow_build,
            remote=options.remote,
        )
        record_snapshot(result, snapshot)
        result.timings["snapshot"] = time.monotonic() - mark
        cancellation.check()

        mark = time.monotonic()
        result.phase = "starting container"
        instance, reused = _acquire_instance(
            engine,
            spec,
            snapshot=snapshot,
            options=options,
            owner=owner,
            reporter=reporter,
        )
        record_instance(result, instance, reused)
        result.timings["start"] = time.monotonic() - mark
        cancellation.check()

        mark = time.monotonic()
        result.phase = "running command"
        _prepare_command(spec, options, instance, result, reporter)
        _command(engine, instance, options, result, cancellation=cancellation, stream=stream)
        # With -p the main thread forwarded Ctrl-C to the command, which then "failed":
        # report the interruption, not the command's code (the run must exit 130).
        cancellation.check()
    except (KeyboardInterrupt, Interrupted):
        result.status, result.exit_code = "interrupted", int(ExitCode.INTERRUPTED)
        cancellation.event.set()
        if stream:
            raise
    except IrisEnvsError as error:
        if cancellation.event.is_set():  # failed because Ctrl-C removed its containers
            result.status, result.exit_code = "interrupted", int(ExitCode.INTERRUPTED)
        else:
            error = vanished_engine_error(engine, error)
            record_error(result, error, time.monotonic() - mark)
            reporter.line(f"error: {error}")
    finally:
        result.phase = result.status
        if instance is not None:
            record_iris_log(engine, result, instance)
        if instance is not None and not reused:
            _release(engine, instance, options=options, result=result, reporter=reporter)
        if snapshot is not None and result.status != "interrupted":
            _replenish_spares(
                engine, spec, snapshot, options=options, owner=owner, reporter=reporter
            )


def _prepare_command(
    spec: EnvSpec, options: RunOptions, instance: Instance, result: EnvResult, reporter: Reporter
) -> None:
    """Record the IRIS version and the command as it will run, and say so."""
    result.iris_version = naming.image_version(instance.container.labels)
    result.command = _expand_command(spec, options, result.iris_version)
    reporter.line(f"running {' '.join(result.command)}")


def _expand_command(spec: EnvSpec, options: RunOptions, iris_version: str) -> tuple[str, ...]:
    """The command with this environment's placeholders filled in (its {env_dir} created)."""
    used = placeholders.check_command(options.command)
    if not used:  # still turn {{ and }} into braces: the documented escape holds everywhere
        return placeholders.expand(options.command, {})
    folder = placeholders.env_dir(spec.project_root, spec.name, options.output)
    if "env_dir" in used:
        try:
            placeholders.make_env_dir(folder)
        except OSError as error:
            raise ConfigError(
                f"cannot create the output folder {folder}: {error.strerror or error}",
                hint="choose a writable folder with --output DIR",
            ) from None
    values = placeholders.command_values(spec.name, folder, iris_version)
    return placeholders.expand(options.command, values)


def _release(
    engine: DockerEngine,
    instance: Instance,
    *,
    options: RunOptions,
    result: EnvResult,
    reporter: Reporter,
) -> None:
    """Remove the run's container, or keep it (renamed, so no gc takes it) when asked."""
    failed = result.status != "passed"
    if options.keep or (options.keep_on_failure and failed):
        result.container_kept = True
        name = keep_container(engine, instance.container.id, instance.container.name)
        reporter.line(
            f"kept container {name} (until `iris-envs down` or `docker rm -f {name}`): "
            + inspect_hint(engine, instance.container.id, name)
        )
    else:
        try:
            engine.remove_container(instance.container.id)
        except IrisEnvsError as error:
            reporter.line(
                f"warning: could not remove container {instance.container.name}: {error}; "
                "the next `iris-envs run` or `iris-envs gc` removes it"
            )


def _replenish_spares(
    engine: DockerEngine,
    spec: EnvSpec,
    snapshot: Snapshot,
    *,
    options: RunOptions,
    owner: Owner,
    reporter: Reporter,
) -> None:
    """Start the spares the next run will claim; detached, so this run does not wait."""
    count = spares.wanted_spares(spec, options.spares)
    if count <= 0:
        return
    try:
        started = spares.replenish(
            engine,
            spec,
            snapshot.ref,
            snapshot.key,
            count=count,
            owner=owner,
            image_id=snapshot.image_id,
        )
    except IrisEnvsError as error:  # the run itself is done: a missing spare only costs time
        reporter.line(f"warning: could not start a warm spare: {error}")
        return
    if started:
        reporter.line(f"started {len(started)} warm spare(s) for the next run")


def _acquire_instance(
    engine: DockerEngine,
    spec: EnvSpec,
    *,
    snapshot: Snapshot,
    options: RunOptions,
    owner: Owner,
    reporter: Reporter,
) -> tuple[Instance, bool]:
    """The `up` container with --reuse (True: not ours to remove), else a warm spare of this
    snapshot's key, else a new container."""
    if options.reuse:
        refuse_stale_up(engine, spec, snapshot.key)  # again: it may have changed meanwhile
        instance = find_up_instance(engine, spec)
        if instance is not None:
            return instance, True
        reporter.line("no `iris-envs up` container to reuse: starting a new one")
    return lifecycle.acquire(engine, spec, snapshot, owner=owner, reporter=reporter), False


def status_board(results: Sequence[EnvResult]) -> AbstractContextManager[object]:
    """A live table of environments, phases and elapsed times (terminal only; else nothing)."""
    if not use_live_output(sys.stderr):
        return nullcontext()
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

    class _Board:
        def __rich__(self) -> Table:
            table = Table("environment", "phase", "elapsed", box=None)
            for r in results:
                table.add_row(r.env, r.phase, f"{time.monotonic() - r.started:.0f} s")
            return table

    # Live redirects stderr, so workers' progress lines scroll above the table.
    return Live(_Board(), console=Console(file=sys.stderr), refresh_per_second=4)


def overall_exit_code(results: Sequence[EnvResult]) -> int:
    """One environment passes its code through (as tox does); several: 0 if all passed, else 1."""
    if any(r.status == "interrupted" for r in results):
        return int(ExitCode.INTERRUPTED)
    if len(results) == 1:
        return results[0].exit_code
    return 0 if all(r.status == "passed" for r in results) else int(ExitCode.FAILED)
