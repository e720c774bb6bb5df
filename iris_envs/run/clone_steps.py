"""The container-side steps of a clone pool: pristine copies, making a clone, resetting clones."""

from __future__ import annotations

from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import IrisEnvsError
from iris_envs.instance.objectscript import IRIS_OWNER, extract_error, run_session, wrapped
from iris_envs.run.clone_recipes import (
    COPY_EXIT,
    PRISTINE_EXISTS,
    CloneSource,
    clone_namespace,
    clone_pairs,
    copy_command,
    create_body,
    create_environment,
    directories_environment,
    mount_state_body,
    number_command,
    pristine_command,
    pristine_directory,
    reset_body,
    reset_session_command,
)

SESSION_TIMEOUT = 600.0


class CloneFailed(IrisEnvsError):
    """A clone namespace could not be made or reset; the message says which step and why."""


def make_pristine(engine: DockerEngine, container_id: str, source: CloneSource) -> None:
    """Copy each database the clones copy, dismounted (a consistent copy), once per container:
    a process that finds the copies taken by another one uses them."""
    directories = [database.directory for database in source.copied]
    pairs = [(d.directory, pristine_directory(d.name)) for d in source.copied]
    dismount, dismounted = wrapped(mount_state_body(False))
    mount, mounted = wrapped(mount_state_body(True))
    result = engine.exec(
        container_id,
        pristine_command(dismount, pairs, mount),
        user=IRIS_OWNER,
        environment=directories_environment(directories),
        timeout=SESSION_TIMEOUT,
    )
    taken = dismounted in result.output and mounted in result.output
    if result.exit_code != 0 or not (taken or PRISTINE_EXISTS in result.output):
        raise CloneFailed(
            f"taking the pristine copies of {source.namespace}'s databases failed: "
            f"{extract_error(result.output)} (exit code {result.exit_code})"
        )


def claim_numbers(engine: DockerEngine, container_id: str, count: int) -> list[int]:
    """``count`` clone numbers no other process in the container uses (see clone_recipes)."""
    result = engine.exec(
        container_id, number_command(count), user=IRIS_OWNER, timeout=SESSION_TIMEOUT
    )
    answer = result.output.strip().splitlines()[-count:] if result.exit_code == 0 else []
    if len(answer) != count or not all(line.isdigit() for line in answer):
        raise CloneFailed(f"claiming clone numbers failed: {result.output.strip()[-300:]}")
    return [int(line) for line in answer]


def make_clones(
    engine: DockerEngine, container_id: str, source: CloneSource, numbers: list[int]
) -> None:
    """Copy the pristine databases for each clone in ``numbers`` and create their namespaces:
    one exec for the copies and one session for all the namespaces, whatever their number."""
    pairs = clone_pairs(source, numbers)
    _copy(engine, container_id, pairs)
    environment: dict[str, str] = {}
    body: list[str] = []
    for number in numbers:
        environment.update(create_environment(source, number))
        body += create_body(number)
    names = ", ".join(clone_namespace(source, number) for number in numbers)
    run_session(
        engine,
        container_id,
        body,
        namespace="%SYS",
        environment=environment,
        timeout=SESSION_TIMEOUT,
        what=f"create clone namespace(s) {names}",
    )


def reset_clones(
    engine: DockerEngine, container_id: str, source: CloneSource, numbers: list[int]
) -> None:
    """Dismount the clones' copies, copy the pristine databases over them, mount them again:
    one exec and one session for the whole batch (clone_recipes.reset_body), judged by the
    session's marker and the copy's exit code."""
    pairs = clone_pairs(source, numbers)
    directories = [target for _, target in pairs]
    script, done = wrapped(reset_body())
    result = engine.exec(
        container_id,
        reset_session_command(script, pairs),
        user=IRIS_OWNER,
        environment=directories_environment(directories),
        timeout=SESSION_TIMEOUT,
    )
    copied = f"{COPY_EXIT}0" in result.output
    if result.exit_code != 0 or done not in result.output or not copied:
        names = ", ".join(clone_namespace(source, number) for number in numbers)
        raise CloneFailed(
            f"resetting {names} failed: {extract_error(result.output)}"
            f" (exit code {result.exit_code})"
        )


def _copy(engine: DockerEngine, container_id: str, pairs: list[tuple[str, str]]) -> None:
    result = engine.exec(
        container_id, copy_command(pairs), user=IRIS_OWNER, timeout=SESSION_TIMEOUT
    )
    if result.exit_code != 0:
        raise CloneFailed(f"copying the databases failed: {result.output.strip()[-300:]}")
