"""The last check of the setup: every fixture's tables and every loaded class visible at the end.

A step can hide what an earlier one made visible (a namespace has one default globals and one
default routines database, so repointing either hides what was there; a mapping hides local
content of the same name). Checking each fixture right after its own step proves nothing about
the snapshot, so the check runs once every step has run, whatever their order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from iris_envs.config.spec import EnvSpec, SetupStep, StepKind
from iris_envs.engine.adapter import DockerEngine
from iris_envs.errors import BuildFailed
from iris_envs.fixtures.row_counts import check_row_counts
from iris_envs.instance.objectscript import run_session

VISIBLE_MARKER = "IRIS-ENVS-VISIBLE:"
ENV_CLASS_COUNT = "IRIS_ENVS_CLASS_COUNT"
ENV_CLASS_PREFIX = "IRIS_ENVS_CLASS_"
# "Class Name Extends ..." starts a class in a UDL .cls file; <Class name="..."> in an XML export.
_UDL_CLASS = re.compile(r"^Class\s+(%?[A-Za-z][A-Za-z0-9.]*)", re.MULTILINE)
_XML_CLASS = re.compile(r'<Class\s+name="(%?[A-Za-z][A-Za-z0-9.]*)"')


def has_checks(spec: EnvSpec) -> bool:
    """Whether the environment restores fixtures or loads classes (else nothing to check)."""
    return any(step.kind in (StepKind.DAT, StepKind.LOAD) for step in spec.setup)


def check_setup(engine: DockerEngine, container_id: str, spec: EnvSpec, *, timeout: float) -> str:
    """Count every restored fixture's tables and look up every loaded class, in the namespace
    each was meant for; BuildFailed names what is missing. Returns lines for the build log."""
    log = []
    for step in spec.setup:
        if step.kind is StepKind.DAT and step.path is not None:
            log.append(check_row_counts(engine, container_id, spec, step, timeout=timeout))
    missing = []
    for namespace, classes in _loaded_classes_by_namespace(spec).items():
        hidden = _invisible(engine, container_id, namespace, classes, timeout=timeout)
        missing += [f"{name} (namespace {namespace})" for name in hidden]
        log.append(f"{len(classes) - len(hidden)} loaded class(es) visible in {namespace}\n")
    if missing:
        raise BuildFailed(
            "classes that `load` steps loaded are not visible at the end of the setup: "
            + ", ".join(missing)
            + "; nothing was committed",
            hint="a later step hid them: a `dat` step repointing the namespace, or a package "
            "mapping of the same package (see docs/fixtures.md, 'How a fixture reaches its "
            "namespace')",
        )
    return "".join(log)


def _loaded_classes_by_namespace(spec: EnvSpec) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for step in spec.setup:
        if step.kind is StepKind.LOAD and step.path is not None:
            namespace = (step.namespace or spec.namespace).upper()
            names = found.setdefault(namespace, [])
            names += [name for name in loaded_classes(step) if name not in names]
    return {namespace: names for namespace, names in found.items() if names}


def loaded_classes(step: SetupStep) -> list[str]:
    """The classes a `load` step's files define (UDL .cls and XML exports), in file order."""
    assert step.path is not None
    names: list[str] = []
    for path in _files(step.path, recurse=step.option("recurse") != "0"):
        suffix = path.suffix.lower()
        if suffix not in (".cls", ".xml"):
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        pattern = _UDL_CLASS if suffix == ".cls" else _XML_CLASS
        names += [name for name in pattern.findall(text) if name not in names]
    return names


def _files(root: Path, *, recurse: bool) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    pattern = "**/*" if recurse else "*"
    yield from sorted(path for path in root.glob(pattern) if path.is_file())


def _invisible(
    engine: DockerEngine, container_id: str, namespace: str, classes: list[str], *, timeout: float
) -> list[str]:
    """The classes with no definition visible in ``namespace`` (%Dictionary.ClassDefinition,
    %ExistsId: the definition, compiled or not, as the namespace resolves it)."""
    environment = {ENV_CLASS_COUNT: str(len(classes))}
    environment.update({f"{ENV_CLASS_PREFIX}{i}": name for i, name in enumerate(classes, 1)})
    result = run_session(
        engine,
        container_id,
        [
            f'Set n=+$system.Util.GetEnviron("{ENV_CLASS_COUNT}")',
            f'For i=1:1:n {{ Set c=$system.Util.GetEnviron("{ENV_CLASS_PREFIX}"_i) '
            f'Write !,"{VISIBLE_MARKER}",c,":",##class(%Dictionary.ClassDefinition).%ExistsId(c),'
            "! }",
        ],
        namespace=namespace,
        environment=environment,
        timeout=timeout,
        what=f"look up the loaded classes in {namespace}",
    )
    seen = {}
    for line in result.output.splitlines():
        if VISIBLE_MARKER in line:
            name, _, flag = line.split(VISIBLE_MARKER, 1)[1].strip().rpartition(":")
            seen[name] = flag.strip() == "1"
    return [name for name in classes if not seen.get(name, False)]
