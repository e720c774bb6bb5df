"""Stop a build container's IRIS cleanly from inside and tidy the stopped instance for the commit.

Why not ``docker stop``: the default ``intersystemsdc/*`` images run ``/tini --
/docker-entrypoint.sh``, a shell wrapper around ``/iris-main``. On ``docker stop`` such a
container exits 143 even when IRIS shut down cleanly, and the older wrapper (iris-main in the
foreground) does not stop IRIS cleanly at all: the container's exit code proves nothing
(iris-facts.md, "Image contract"). Every public image build instead stops IRIS from inside with
``iris stop IRIS quietly`` and judges THAT command; so does iris-envs.

To tidy the instance after the stop (InterSystems' own builds remove the WIJ and journal files
and empty ``messages.log``), the container must outlive IRIS, but iris-main exits when IRIS
stops. The build container therefore runs the image's own entrypoint under a small shell that
stays alive afterwards (``keep_alive_entrypoint``); the snapshot gets the image's entrypoint and
command back when it is committed (``restore_config_changes``). The same shell passes
``ISC_CPF_MERGE_FILE`` to the entrypoint only, so the variable never reaches the container's
config, which ``docker commit`` would record in the snapshot: every container of it would merge
again (iris-facts.md, "iris-main options").

The container itself is not stopped: with IRIS down only the keep-alive shell is left (and
whatever a setup step left running), and ``docker commit`` pauses the container while it copies
the layer. That captures the files as a stop would: ``docker stop`` signals only tini's child
(the keep-alive shell), and everything else dies by SIGKILL when tini exits, at a point as
arbitrary as the pause. Stopping first cost about a second per gigabyte written (the engine
writes the layer's dirty pages back as it unmounts it); the build now removes the container
while the snapshot is verified (attempt.py, verify.py).
"""

from __future__ import annotations

import json
import re
import shlex
import time

from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import ExecResult, ImageInfo
from iris_envs.errors import BuildFailed, DockerOperationFailed
from iris_envs.instance.objectscript import INSTANCE, IRIS_OWNER

MGR_DIR = "/usr/irissys/mgr"
# A large instance may need a minute or more to shut down; iris stop returns when it is down.
STOP_TIMEOUT = 180.0
# iris-main needs a moment after `iris stop` returns to notice and exit.
DOWN_TIMEOUT = 30.0
BUILD_SHELL_NAME = "iris-envs-build"

# "$@" is the image's entrypoint and command. When it returns (IRIS is down), the shell stays.
_KEEP_ALIVE = (
    '{merge}"$@"; echo "iris-envs: the entrypoint exited with code $?; '
    'the container stays up for the snapshot commit"; while :; do sleep 3600; done'
)
# After a clean stop, as InterSystems' image build does (imageBuildSteps.sh: remove_WIJ and
# remove_journals, "if we know we've stopped cleanly, they're unnecessary"): the WIJ is recreated
# at the next start and a cleanly stopped instance needs no journal for recovery. messages.log is
# emptied too (our choice, not imageBuildSteps.sh's: the build's log lines would otherwise greet
# every container of the snapshot, and readiness reads that log); emptied, never deleted, since
# iris-main treats a missing one as fatal (iris-facts.md). journal.log, iris.ids and alerts.log,
# which community build scripts also delete, are left: nothing sourced says IRIS does without them.
# It prints the bytes it removes (`stat -c %s` exists in coreutils and busybox); a glob that
# matches nothing stays literal, which `[ -f ]` skips and `rm -f` ignores.
_TIDY = (
    f"total=0; for f in {MGR_DIR}/IRIS.WIJ {MGR_DIR}/journal/*; do "
    '[ -f "$f" ] && total=$((total + $(stat -c %s "$f"))); done; '
    f"rm -f {MGR_DIR}/IRIS.WIJ {MGR_DIR}/journal/* && : > {MGR_DIR}/messages.log && "
    'echo "removed $total"'
)
# Only once `iris qlist` reports the instance down (its 4th ^-field), in the same exec: one round
# trip fewer per build than asking first. Otherwise it exits NOT_DOWN and prints the state.
NOT_DOWN = 75
_TIDY_ONCE_DOWN = (
    'listed=$(iris qlist 2>&1); state=$(printf "%s\n" "$listed" | head -n 1 | cut -d^ -f4); '
    'case "$state" in down*) ;; '
    f'*) printf "not down: %s\n" "${{state:-$listed}}"; exit {NOT_DOWN};; esac; ' + _TIDY
)


def keep_alive_entrypoint(
    base: ImageInfo, cpf_merge_target: str | None
) -> tuple[list[str], list[str]]:
    """(entrypoint, command) for a build container: the image's own, under a staying shell.

    tini (``/tini --``) stays PID 1 where the image has it, so signals and zombies are handled
    as in the image; the shell is its child and the image's entrypoint the shell's.
    """
    entrypoint = list(base.entrypoint or ())
    init: list[str] = []
    if entrypoint and entrypoint[0].endswith("tini"):
        end = entrypoint.index("--") + 1 if "--" in entrypoint else 1
        init, entrypoint = entrypoint[:end], entrypoint[end:]
    merge = f"ISC_CPF_MERGE_FILE={shlex.quote(cpf_merge_target)} " if cpf_merge_target else ""
    shell = ["/bin/sh", "-c", _KEEP_ALIVE.format(merge=merge), BUILD_SHELL_NAME]
    return [*init, *shell, *entrypoint], list(base.cmd or ())


def restore_config_changes(base: ImageInfo) -> list[str]:
    """``docker commit`` changes that give a snapshot the base image's entrypoint, command, user."""
    return [
        f"ENTRYPOINT {json.dumps(list(base.entrypoint or ()))}",
        f"CMD {json.dumps(list(base.cmd or ()))}",
        f"USER {base.user or 'root'}",
    ]


def stop_iris_cleanly(engine: DockerEngine, container_id: str) -> int:
    """``iris stop IRIS quietly`` as irisowner (its exit code is the verdict), wait until
    ``iris qlist`` says down, then tidy the instance's files (the container keeps running).

    Returns the bytes of WIJ and journal files removed (kept out of the snapshot's layer).
    An engine error on the way (a stop that outlasts STOP_TIMEOUT) fails the build (exit 5).
    """
    try:
        return _stop_and_tidy(engine, container_id)
    except DockerOperationFailed as error:
        raise BuildFailed(
            f"stopping IRIS cleanly failed: {error}; nothing was committed",
            hint="a large instance may need longer to shut down; the build log shows the steps",
        ) from None


def _stop_and_tidy(engine: DockerEngine, container_id: str) -> int:
    result = engine.exec(
        container_id,
        ["iris", "stop", INSTANCE, "quietly"],
        user=IRIS_OWNER,
        timeout=STOP_TIMEOUT,
    )
    if result.exit_code != 0:
        raise BuildFailed(
            f"`iris stop {INSTANCE} quietly` failed with exit code {result.exit_code}: "
            f"{_tail(result.output)}; a snapshot of an instance that was not stopped cleanly would "
            "start with crash recovery, so none was committed"
        )
    tidy = _tidy_once_down(engine, container_id)
    if tidy.exit_code != 0:
        raise BuildFailed(
            "could not remove the WIJ and journal files of the stopped instance "
            f"(exit code {tidy.exit_code}): {_tail(tidy.output)}"
        )
    removed = re.search(r"removed (\d+)", tidy.output)
    return int(removed.group(1)) if removed else 0


def _tidy_once_down(engine: DockerEngine, container_id: str) -> ExecResult:
    """Tidy as soon as `iris qlist` reports down (iris-main may need a moment after the stop)."""
    deadline = time.monotonic() + DOWN_TIMEOUT
    while True:
        result = engine.exec(
            container_id, ["sh", "-c", _TIDY_ONCE_DOWN], user=IRIS_OWNER, timeout=120
        )
        if result.exit_code != NOT_DOWN:
            return result
        if time.monotonic() >= deadline:
            state = result.output.strip().removeprefix("not down: ")
            raise BuildFailed(
                f"`iris stop {INSTANCE} quietly` returned, but after {DOWN_TIMEOUT:.0f} s "
                f"`iris qlist` still reports {state!r} instead of down; nothing was committed"
            )
        time.sleep(0.2)


def _tail(output: str) -> str:
    return " | ".join(output.strip().splitlines()[-5:]) or "no output"
