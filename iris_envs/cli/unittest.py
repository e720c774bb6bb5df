"""``iris-envs unittest PATH...``: ObjectScript %UnitTest classes in a warm container, no pytest."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from iris_envs.cli._common import add_config_option

if TYPE_CHECKING:
    from iris_envs.unittest.source import TestClass

HELP = (
    "run ObjectScript %UnitTest classes (.cls files, XML exports) in a warm container of an "
    "environment"
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``unittest``."""
    add_config_option(parser)
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help=".cls files, XML exports, or folders holding them (none: the `<UnitTest>` folders of "
        "the IPM module.xml in the current folder)",
    )
    parser.add_argument(
        "-e",
        "--env",
        metavar="NAME",
        default=None,
        help="environment (default: the container of `iris-envs run` when run under it, else "
        "the project's default)",
    )
    parser.add_argument(
        "--junitxml", metavar="FILE", type=Path, default=None, help="also write a JUnit XML file"
    )


def execute(args: argparse.Namespace) -> int:
    """Run every test class found under the paths (none: the test folders of the IPM module.xml
    in the current folder); exit 0 when all passed, 1 otherwise."""
    from iris_envs.errors import ConfigError
    from iris_envs.unittest.ipm import MODULE_XML, ModuleXmlError, module_classes, read_module
    from iris_envs.unittest.source import find_test_classes, index_classes

    module = None
    if not args.paths:
        if not Path(MODULE_XML).is_file():
            raise ConfigError(
                f"no PATH given and no {MODULE_XML} here",
                hint="name .cls files, XML exports or folders; or run it beside an IPM "
                "module.xml to run its <UnitTest> folders",
            )
        try:
            module = read_module(Path(MODULE_XML))
        except ModuleXmlError as error:
            raise ConfigError(str(error)) from None
        args.paths = [tests.folder for tests in module.tests]
    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        where = f" ({MODULE_XML} <UnitTest Name>)" if module else ""
        raise ConfigError(f"no such file or folder{where}: {', '.join(missing)}")
    if module is not None:
        classes = module_classes(module)
    else:
        classes = find_test_classes(args.paths, index_classes(args.paths))
    if not classes:
        raise ConfigError(
            f"no %UnitTest.TestCase class with Test* methods in {', '.join(map(str, args.paths))}",
            hint="a test class extends %UnitTest.TestCase (or a base class in the same paths) "
            "and has methods named Test*",
        )
    args.module = module
    container = os.environ.get("IRIS_ENVS_CONTAINER", "")
    if container and args.env in (None, os.environ.get("IRIS_ENVS_ENV")):
        return _report(args, classes, container, os.environ.get("IRIS_NAMESPACE", "USER"))
    from iris_envs.cli._common import load_one
    from iris_envs.run.lifecycle import warm_instance

    args.name = args.env
    _project, spec = load_one(args)
    with warm_instance(spec) as instance:
        return _report(args, classes, instance.container.id, spec.namespace)


def _report(
    args: argparse.Namespace, classes: list[TestClass], container: str, namespace: str
) -> int:
    """Run each class, print a line per method and the failures, write the JUnit file."""
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.unittest.report import Verdict, summary, verdicts, write_junit
    from iris_envs.unittest.runner import run_class

    engine = DockerEngine()
    found: list[Verdict] = []
    module = args.module
    ask_ipm = bool(module and module.dependencies)
    for test in classes:
        run = run_class(engine, container, namespace, test, ask_ipm=ask_ipm)
        for verdict in verdicts(test, run, module, namespace):
            found.append(verdict)
            print(f"{verdict.outcome.status.upper():8} {verdict.cls}::{verdict.method}", flush=True)
    for verdict in found:
        if verdict.outcome.status == "failed":
            print(f"\n___ {verdict.cls}::{verdict.method} ___\n{verdict.outcome.message}")
    if args.junitxml is not None:
        write_junit(args.junitxml, found)
    print(f"\n{summary(found)}")
    return 1 if any(v.outcome.status == "failed" for v in found) else 0
