"""``iris-envs run``: run a command (default: pytest) in a warm container of each environment."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from iris_envs.cli._common import (
    add_config_option,
    add_registry_options,
    add_selection_options,
    load_selected,
    prune_past_max_size,
    remote_cache,
)
from iris_envs.errors import ConfigError

HELP = "run a command (default: pytest) against warm containers of the selected environments"
DEFAULT_COMMAND = ("pytest",)


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``run``; everything after ``--`` is the command."""
    parser.usage = "iris-envs run [options] [-- COMMAND ARGS...]"
    add_config_option(parser)
    add_selection_options(parser)
    parser.add_argument(
        "-p",
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="run up to N environments at once (their outputs are printed whole, in turn)",
    )
    parser.add_argument(
        "--monitor",
        action="store_true",
        help="sample IRIS's counters (global references and updates, journal entries, "
        "routine commands, license units) during the command in every environment, as "
        "`monitor = true` does; the deltas go to the summary and --report",
    )
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--keep", action="store_true", help="keep the containers after the run")
    keep.add_argument(
        "--keep-on-failure",
        action="store_true",
        help="keep the container of an environment whose command failed",
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="fail (exit 5) instead of building a missing or stale snapshot",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild the snapshots first (as `build --rebuild`)"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="run against the container of `iris-envs up ENV` instead of starting one",
    )
    parser.add_argument(
        "--spares",
        default=None,
        metavar="N",
        help="after the run, keep N warm spare containers per environment for the next run "
        "(default: $IRIS_ENVS_SPARES, else the environment's `spares`, else 0)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        action="append",
        help="write a report of the run to FILE: HTML when it ends in .html, else JSON "
        "(may be given twice, e.g. --report run.json --report run.html)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        default=None,
        help="the per-environment output folders ({env_dir} in the command) are DIR/ENV "
        "(default: .iris-envs/ENV in the project)",
    )
    parser.add_argument(
        "--github",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write a GitHub job summary, annotations and folded build logs "
        "(default: when GITHUB_ACTIONS=true)",
    )
    add_registry_options(parser)
    parser.add_argument("run_command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def execute(args: argparse.Namespace) -> int:
    """Prepare snapshots, run the command in each environment, summarise, return the exit code."""
    from iris_envs.cache.orphans import collect_orphans
    from iris_envs.cli.doctor_checks import preflight
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.errors import ConfigError
    from iris_envs.instance.containers import Owner
    from iris_envs.progress import Reporter
    from iris_envs.run import github
    from iris_envs.run.placeholders import check_command
    from iris_envs.run.report import check_report_path, print_summary, report_data, write_report
    from iris_envs.run.runner import RunOptions, overall_exit_code, run_environments
    from iris_envs.run.spares import checked_spares, wanted_spares

    command = list(args.run_command)
    if command and command[0] == "--":
        command = command[1:]
    if args.parallel < 1:
        raise ConfigError(f"--parallel must be at least 1, got {args.parallel}")
    if args.spares is not None:  # one rule for the option, the variable and `spares`
        args.spares = checked_spares(args.spares, "--spares")
    for path in args.report or ():
        check_report_path(path)
    if args.output is not None and args.output.exists() and not args.output.is_dir():
        raise ConfigError(f"--output {args.output} is not a folder")
    check_command(tuple(command))  # an unknown {placeholder} costs no build
    _check_command_exists(tuple(command) or DEFAULT_COMMAND)
    project, envs = load_selected(args)
    for spec in envs:
        wanted_spares(spec, args.spares)  # a bad $IRIS_ENVS_SPARES fails now, not after the run
    options = RunOptions(
        command=tuple(command) or DEFAULT_COMMAND,
        parallel=args.parallel,
        keep=args.keep,
        keep_on_failure=args.keep_on_failure,
        allow_build=not args.no_build,
        reuse=args.reuse,
        rebuild=args.rebuild,
        spares=args.spares,
        remote=remote_cache(args, project),
        output=args.output,
        monitor=args.monitor,
    )
    engine = DockerEngine()
    preflight(engine)  # the doctor's cheap checks: engine and cache folder, with their fixes
    removed = collect_orphans(engine)
    if removed:
        names = ", ".join(c.name for c in removed)
        Reporter().line(f"removed {len(removed)} container(s) left by a killed run: {names}")
    results = run_environments(engine, envs, options, Owner())
    exit_code = overall_exit_code(results)
    print_summary(results)
    prune_past_max_size(project, engine)
    data = report_data(results, options.command, exit_code)
    for path in args.report or ():
        failure = write_report(path, data)
        if failure:
            Reporter().line(f"error: {failure} (the exit code is the run's: {exit_code})")
    if github.enabled(args.github):
        failure = github.publish(data, stream=sys.stdout)
        if failure:
            Reporter().line(f"warning: {failure}")
    return exit_code


def misplaced_options(given: list[str], unknown: list[str], remainder: list[str]) -> ConfigError:
    """The error for options ``run`` does not have, given before ``--`` (``run -k greet``):
    they are the command's (pytest's by default), so say where they go. ``given`` is every
    word after ``run``."""
    # argparse hands the unknown options back, and the words from the first other word on
    # become the command (REMAINDER): together, in order, they are what was meant for pytest.
    rest = remainder[1:] if remainder[:1] == ["--"] else remainder
    own = given[: len(given) - len(remainder)]
    for option in unknown:
        own.remove(option)
    meant = [*unknown, *rest]
    return ConfigError(
        f"run has no option {unknown[0]}: options for the command go after `--`",
        hint=f"iris-envs {shlex.join(['run', *own, '--', 'pytest', *meant])}",
    )


def _looks_like_pytest_arguments(program: str) -> bool:
    """A test file, folder or option where a program was expected (``run tests/ -k x``)."""
    import os

    if program.startswith("-") or program.endswith(".py") or "::" in program:
        return True
    return os.path.exists(program) and not os.access(program, os.X_OK)  # noqa: PTH110


def _check_command_exists(command: tuple[str, ...]) -> None:
    """A command that cannot be found fails before any snapshot is built or container started."""
    import os
    import shutil

    from iris_envs.errors import ConfigError

    program = command[0]
    if os.sep in program:
        found = os.path.isfile(program) and os.access(program, os.X_OK)  # noqa: PTH113
    else:
        found = shutil.which(program) is not None
    if not found and _looks_like_pytest_arguments(program):
        raise ConfigError(
            f"command not found: {program!r} (it looks like an argument for pytest)",
            hint=f"name the command after `--`: iris-envs run -- pytest {shlex.join(command)}",
        )
    if not found:
        raise ConfigError(
            f"command not found: {program!r}",
            hint="install it in this environment (e.g. `pip install pytest`), or give its full "
            "path after `--`",
        )
