"""``iris-envs shell ENV``: an interactive ``iris session`` in the environment's `up` container."""

from __future__ import annotations

import argparse

from iris_envs.cli._common import add_config_option, load_one

HELP = "open an interactive iris session in the container of `iris-envs up ENV`"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``shell``."""
    add_config_option(parser)
    parser.add_argument("env", nargs="?", metavar="ENV", help="environment (default: the default)")
    parser.add_argument("--namespace", help="namespace to open (default: the environment's)")


def execute(args: argparse.Namespace) -> int:
    """Replace this process with ``docker exec -it ... iris session IRIS -U NS``."""
    import os
    import subprocess
    import sys

    from iris_envs.engine.exec import interactive_exec_argv
    from iris_envs.errors import UnknownEnvironment
    from iris_envs.instance.objectscript import INSTANCE, IRIS_OWNER
    from iris_envs.run.up_instance import find_up_instance

    _project, spec = load_one(args)
    from iris_envs.engine.adapter import DockerEngine

    engine = DockerEngine()
    instance = find_up_instance(engine, spec)
    if instance is None:
        raise UnknownEnvironment(
            f"environment {spec.name} has no running `up` container",
            hint=f"start one with `iris-envs up -e {spec.name}`",
        )
    argv = interactive_exec_argv(
        instance.container.id,
        ["iris", "session", INSTANCE, "-U", args.namespace or spec.namespace],
        user=IRIS_OWNER,
        endpoint=engine.endpoint,
    )
    if sys.platform == "win32":
        # No exec there (os.execvp starts a new process and ends this one, which leaves the
        # console to both): wait for the docker CLI and pass its exit code on.
        return subprocess.call(argv)
    os.execvp(argv[0], argv)
    return 0  # not reached: execvp replaces the process
