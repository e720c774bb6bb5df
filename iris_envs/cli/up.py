"""``iris-envs up``: start a long-lived warm container for development; print its details."""

from __future__ import annotations

import argparse

from iris_envs.cli._common import (
    add_config_option,
    add_env_positional,
    add_selection_options,
    load_selected,
    merge_env_positional,
)

HELP = "start a long-lived warm container of an environment and print its connection details"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``up``."""
    add_config_option(parser)
    add_selection_options(parser)
    add_env_positional(parser)
    parser.add_argument(
        "--show-password", action="store_true", help="print the password instead of ********"
    )


def execute(args: argparse.Namespace) -> int:
    """Start (or find) the `up` container of each selected environment."""
    from iris_envs.build.snapshot import ensure_snapshot
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.instance.containers import Owner, up_container_name
    from iris_envs.progress import Reporter
    from iris_envs.run.instance import start_instance
    from iris_envs.run.up_instance import find_up_instance, stale_up_reason
    from iris_envs.run.variables import redacted

    merge_env_positional(args)
    _project, envs = load_selected(args)
    engine = DockerEngine()
    owner = Owner(pid=0, host="")  # `up` containers outlive this process: no owner to outlive
    for spec in envs:
        reporter = Reporter(spec.name)
        snapshot = ensure_snapshot(engine, spec, owner=owner, reporter=reporter)
        instance = find_up_instance(engine, spec)
        stale = stale_up_reason(instance, snapshot.key) if instance is not None else ""
        if instance is not None and stale:
            reporter.line(f"replacing it: {stale}")
            engine.remove_container(instance.container.id)
            instance = None
        if instance is None:
            name = up_container_name(spec)
            with reporter.step("start container") as handle:
                instance = start_instance(
                    engine,
                    spec,
                    snapshot.ref,
                    owner=owner,
                    role="up",
                    name=name,
                    on_progress=handle.update,
                )
        else:
            reporter.line(f"already up in container {instance.container.name}")
        variables = instance.variables if args.show_password else redacted(instance.variables)
        print(f"# {spec.name}: container {instance.container.name}")
        for key, value in variables.items():
            print(f"{key}={value}")
    return 0
