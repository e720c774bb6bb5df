"""Run the user's setup steps in a build container: copy their files in, then execute each."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from iris_envs.cache.hashing import UnsafeLink, tree_digest, walk_files
from iris_envs.config.spec import EnvSpec, SetupStep, StepKind
from iris_envs.engine.adapter import DockerEngine
from iris_envs.engine.types import FileToCopy
from iris_envs.errors import BuildFailed, DockerOperationFailed, Where
from iris_envs.fixtures.dat_step import DatCopy, run_dat
from iris_envs.instance.objectscript import (
    IRIS_OWNER,
    IRIS_OWNER_UID,
    ScriptFailed,
    run_session,
    throw_on_error,
)
from iris_envs.instance.recipes import ENV_ARGUMENT, ENV_FLAGS, ENV_LOG, ENV_PATH

# Step files land here, owned by irisowner; the folder stays in the snapshot so a test can see
# exactly what was loaded (it holds fixtures, never secrets).
SETUP_DIR = PurePosixPath("/home/irisowner/iris-envs-setup")
MGR_DIR = PurePosixPath("/usr/irissys/mgr")
STEP_TIMEOUT = 3600.0
DEFAULT_LOAD_FLAGS = "ck"
# Shown in the error when ImportDDL's errors log is not empty (the first lines are enough to act).
SQL_LOG_LINES = 20
# The IPM step raises this ZTRAP code when neither %IPM.Main nor %ZPM.PackageManager exists.
NO_IPM_TRAP = "NOIPM"
# What IPM says when a namespace has no package registry: 0.10.9+ checks first, older versions
# only find nothing (intersystems/ipm Main.cls, "Improve install error messages").
NO_REGISTRY_TEXTS = (
    "No repositories are configured and enabled in this namespace",
    "not found in any repository",
)
# Since IPM 0.9 each namespace has its own registry settings and none by default; `enable -map
# -globally` maps the IPM code only, `-repos` (with -map) also the registries, and `enable
# -community` maps both with the community registry (intersystems/ipm README and Main.cls).
MAP_IPM_HINT = (
    'a step before this one: { objectscript = "map-ipm.script", namespace = "USER" } holding '
    'the line `zpm "enable -map -repos -globally"` (maps IPM and the registries configured in '
    'USER into every namespace) or `zpm "enable -community"` (the same with the community '
    "registry)"
)


@dataclass(frozen=True)
class StepOutcome:
    """What one step did: its output (for the build log) and the bytes copied in."""

    step: SetupStep
    output: str
    bytes_copied: int


def _getenv(variable: str, name: str) -> str:
    return f'Set {variable}=$system.Util.GetEnviron("{name}")'


def _objectscript_body(step: SetupStep, expected: Mapping[str, Any] | None) -> list[str]:
    assert step.path is not None
    data = step.path.read_bytes()
    _check_unchanged(step, "sha256:" + hashlib.sha256(data).hexdigest(), expected)
    lines = data.decode("utf-8").splitlines()
    # A trailing Halt would end the session before the success marker is written.
    while lines and lines[-1].strip().lower() in ("", "halt", "h"):
        lines.pop()
    return [line for line in lines if line.strip()]


def _body_for(step: SetupStep, expected: Mapping[str, Any] | None) -> list[str]:
    """The ObjectScript lines of a step (its inputs arrive as environment variables)."""
    path = _getenv("path", ENV_PATH)
    if step.kind is StepKind.LOAD:
        assert step.path is not None
        recurse = "0" if step.option("recurse") == "0" else "1"
        call = (
            f"Set sc=$SYSTEM.OBJ.LoadDir(path,flags,.err,{recurse})"
            if step.path.is_dir()
            else "Set sc=$SYSTEM.OBJ.Load(path,flags)"
        )
        return [path, _getenv("flags", ENV_FLAGS), f"{call} {throw_on_error('sc')}"]
    if step.kind is StepKind.SQL:
        # ImportDDL has no return value (class reference 2024.1: in a Set it is <COMMAND>), and a
        # statement it cannot run is skipped and written to the errors log (SQL guide, "Importing
        # SQL Code"): run_step judges the step by that log, which is created even when empty.
        return [
            path,
            _getenv("dialect", ENV_FLAGS),
            _getenv("log", ENV_LOG),
            "Do $SYSTEM.SQL.Schema.ImportDDL(path,log,dialect)",
        ]
    if step.kind is StepKind.GLOBALS:
        # 7 = %GOF block format, the format of a Global export file.
        return [
            path,
            f'Set sc=##class(%Library.Global).Import($NAMESPACE,"*",path,7) {throw_on_error("sc")}',
        ]
    if step.kind is StepKind.IPM:
        # IPM >= 0.9 is %IPM.Main; older ZPM is %ZPM.PackageManager. Both Shell() return a status.
        # Since 0.9 IPM is not mapped across namespaces, and containers.intersystems.com images
        # ship none (intersystems/ipm README; iris-facts.md): check before calling, so a missing
        # IPM is reported as such instead of as <CLASS DOES NOT EXIST>.
        exists = "##class(%Dictionary.CompiledClass).%ExistsId"
        return [
            _getenv("cmd", ENV_ARGUMENT),
            'Set cmd="install "_cmd',
            f'Set ipm={exists}("%IPM.Main"),zpm={exists}("%ZPM.PackageManager")',
            f"If 'ipm,'zpm ZTRAP \"{NO_IPM_TRAP}\"",
            f"If ipm Set sc=##class(%IPM.Main).Shell(cmd) {throw_on_error('sc')}",
            f"If 'ipm Set sc=##class(%ZPM.PackageManager).Shell(cmd) {throw_on_error('sc')}",
        ]
    if step.kind is StepKind.OBJECTSCRIPT:
        return _objectscript_body(step, expected)
    raise AssertionError(f"no ObjectScript for {step.kind}")


def sql_errors_log(step: SetupStep) -> str:
    """Where ImportDDL writes a ``sql`` step's errors: beside the copied file."""
    assert step.path is not None
    return str(SETUP_DIR / f"step-{step.index}" / f"{step.path.stem}_Errors.log")


def _check_sql_errors_log(engine: DockerEngine, container_id: str, step: SetupStep) -> None:
    """Fail the step when ImportDDL reported statements it could not run."""
    log = sql_errors_log(step)
    try:
        text = engine.read_file(container_id, log).decode("utf-8", errors="replace")
    except DockerOperationFailed:
        raise BuildFailed(
            f"{step.describe()} (file {step.path}) failed: ImportDDL wrote no errors log at {log}",
            hint="the file may not be readable by irisowner; the build log shows IRIS's output",
        ) from None
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if lines:
        shown = "\n    ".join(lines[:SQL_LOG_LINES])
        hidden = len(lines) - SQL_LOG_LINES
        more = f"\n    ... {hidden} more lines" if hidden > 0 else ""
        raise BuildFailed(
            f"{step.describe()} (file {step.path}) failed: ImportDDL skipped statements it could "
            f"not run; its errors log {log} says:\n    {shown}{more}",
            hint="fix the statements; in the IRIS dialect each statement starts on a new line and "
            "is followed by a line holding only GO",
        )


def _check_unchanged(step: SetupStep, sent: str, expected: Mapping[str, Any] | None) -> None:
    """What went into the container must be what the cache key hashed, or the snapshot would be
    committed under the key of content it does not hold."""
    if expected is not None and expected.get("sha256") != sent:
        raise BuildFailed(
            f"{step.describe()}: {step.path} changed during the build (its content no longer "
            "matches the cache key computed when the build started); nothing was committed",
            hint="run the build again once the files are no longer being edited",
        )


def _copy_step_files(
    engine: DockerEngine,
    container_id: str,
    spec: EnvSpec,
    step: SetupStep,
    expected: Mapping[str, Any] | None,
) -> tuple[int, str]:
    """Copy a step's file or directory to ``step-N/`` (link targets, never links); return the
    bytes sent and the target path. Checks what was sent against the key's hash."""
    assert step.path is not None
    # /home/irisowner exists in every IRIS image; step-N/ keeps steps apart.
    relative = f"step-{step.index}/{step.path.name}"
    try:
        entries = walk_files(step.path, spec.project_root) if step.path.is_dir() else []
    except UnsafeLink as link:
        raise BuildFailed(
            f"{step.describe()}: symlink {link.link} -> {link.target}: {link.reason}"
        ) from None
    if step.path.is_dir():
        files = [FileToCopy(path.resolve(), f"{relative}/{rel}") for rel, path in entries]
        files = files or [FileToCopy(step.path, relative)]  # an empty folder still arrives
    else:
        files = [FileToCopy(step.path.resolve(), relative)]
    digests: dict[str, str] = {}
    copied = engine.copy_in(
        container_id,
        str(SETUP_DIR),
        files,
        uid=IRIS_OWNER_UID,
        gid=IRIS_OWNER_UID,
        digests=digests,
    )
    if step.path.is_dir():
        prefix = len(relative) + 1
        sent = tree_digest((name[prefix:], digest) for name, digest in digests.items())
    else:
        sent = digests.get(relative, "")
    _check_unchanged(step, sent, expected)
    return copied, str(SETUP_DIR / relative)


def run_step(
    engine: DockerEngine,
    container_id: str,
    spec: EnvSpec,
    step: SetupStep,
    *,
    on_progress: Callable[[str], None] | None = None,
    expected: Mapping[str, Any] | None = None,
    dat_copied: DatCopy | None = None,
) -> StepOutcome:
    """Execute one step; raise BuildFailed naming the step, its file and IRIS's error text.

    ``expected`` is the step's ``content`` entry of the cache key's inputs: files are checked
    against it as they are copied in. ``dat_copied`` gives a `dat` step's copy made ahead.
    """
    namespace = step.namespace or spec.namespace
    environment: dict[str, str] = {}
    copied = 0
    try:
        if step.kind is StepKind.DAT:
            # Version check, copy (checked against the fixture's manifest), add, mount, map.
            output, copied = run_dat(
                engine,
                container_id,
                spec,
                step,
                timeout=STEP_TIMEOUT,
                on_progress=on_progress,
                copied=dat_copied,
            )
            return StepOutcome(step, output, copied)
        if step.path is not None and step.kind is not StepKind.OBJECTSCRIPT:
            copied, target = _copy_step_files(engine, container_id, spec, step, expected)
            if on_progress is not None:
                on_progress(f"copied {copied:,} bytes")
            environment[ENV_PATH] = target
        if step.kind is StepKind.SHELL:
            result = engine.exec(
                container_id,
                ["sh", "-c", step.source],
                user=step.option("user") or IRIS_OWNER,
                workdir="/home/irisowner",
                timeout=STEP_TIMEOUT,
            )
            if result.exit_code != 0:
                tail = " | ".join(result.output.strip().splitlines()[-5:]) or "no output"
                raise BuildFailed(
                    f"{step.describe()} failed: the command exited with code "
                    f"{result.exit_code}: {tail}"
                )
            return StepOutcome(step, result.output, copied)
        environment.update(_session_environment(step))
        session = run_session(
            engine,
            container_id,
            _body_for(step, expected),
            namespace=namespace,
            environment=environment,
            timeout=STEP_TIMEOUT,
            what=step.describe(),
        )
        if step.kind is StepKind.SQL:
            _check_sql_errors_log(engine, container_id, step)
        return StepOutcome(step, session.output, copied)
    except ScriptFailed as failure:
        raise _step_failed(step, namespace, failure) from failure
    except DockerOperationFailed as failure:
        raise BuildFailed(f"{step.describe()} failed: {failure}") from failure


def step_where(spec: EnvSpec, step: SetupStep) -> Where | None:
    """Where the configuration declares ``step`` (None for zero-configuration or derived steps)."""
    if spec.config_file is None or not step.key:
        return None
    return Where(spec.config_file, step.key)


def _session_environment(step: SetupStep) -> dict[str, str]:
    """The exec variables a step's ObjectScript reads (besides the copied file's path)."""
    if step.kind is StepKind.LOAD:
        return {ENV_FLAGS: step.option("flags", DEFAULT_LOAD_FLAGS) or ""}
    if step.kind is StepKind.SQL:
        return {ENV_FLAGS: step.option("dialect") or "IRIS", ENV_LOG: sql_errors_log(step)}
    if step.kind is StepKind.IPM:
        version = step.option("version")
        return {ENV_ARGUMENT: f"{step.source} {version}" if version else step.source}
    return {}


def _step_failed(step: SetupStep, namespace: str, failure: ScriptFailed) -> BuildFailed:
    """The error a failed step session becomes: IRIS's own error text, or what to do about it."""
    if step.kind is StepKind.IPM and f"<Z{NO_IPM_TRAP}>" in failure.error_text:
        return BuildFailed(
            f"{step.describe()} failed: IPM is not installed in namespace {namespace} "
            "(no %IPM.Main or %ZPM.PackageManager class there)",
            hint="IPM 0.9+ is only in the namespace it was installed in, and "
            "containers.intersystems.com images have none. Use an intersystemsdc/* image and "
            f"map IPM everywhere with {MAP_IPM_HINT}; or install IPM into this namespace with a "
            "`load` step of the IPM release XML (see docs/configuration.md, ipm steps)",
        )
    if step.kind is StepKind.IPM and any(text in failure.output for text in NO_REGISTRY_TEXTS):
        return BuildFailed(
            f"{step.describe()} failed: IPM in namespace {namespace} has no package registry "
            "configured, so it cannot install anything",
            hint='IPM 0.9+ keeps registries per namespace and `zpm "enable -map -globally"` '
            f"maps only its code. Map the registries too with {MAP_IPM_HINT}",
        )
    file_note = f" (file {step.path})" if step.path is not None else ""
    return BuildFailed(
        f"{step.describe()}{file_note} failed: {failure.error_text}",
        hint="the full IRIS output is in the build log named below",
    )
