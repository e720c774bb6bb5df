"""Command-line entry point: parse arguments, dispatch a subcommand, map errors to exit codes."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from iris_envs import __version__
from iris_envs.errors import IrisEnvsError
from iris_envs.exit_codes import ExitCode

# Subcommand name -> module. Each module defines HELP, configure(parser) and execute(args) -> int,
# and keeps heavy imports (the docker SDK, rich) inside execute so `--version` stays fast.
COMMANDS: dict[str, str] = {
    "list": "iris_envs.cli.list_envs",
    "config": "iris_envs.cli.show_config",
    "key": "iris_envs.cli.show_key",
    "explain": "iris_envs.cli.explain_key",
    "schema": "iris_envs.cli.show_schema",
    "build": "iris_envs.cli.build",
    "run": "iris_envs.cli.run",
    "up": "iris_envs.cli.up",
    "down": "iris_envs.cli.down",
    "status": "iris_envs.cli.status",
    "shell": "iris_envs.cli.shell",
    "gc": "iris_envs.cli.gc",
    "doctor": "iris_envs.cli.doctor",
    "matrix": "iris_envs.cli.matrix",
    "cache": "iris_envs.cli.cache",
    "fixture": "iris_envs.cli.fixture",
    "unittest": "iris_envs.cli.unittest",
}


class CommandModule(Protocol):
    """What every module named in COMMANDS provides."""

    HELP: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def execute(self, args: argparse.Namespace) -> int: ...


def build_parser() -> argparse.ArgumentParser:
    """Build the full parser; importing command modules is cheap by construction."""
    parser = argparse.ArgumentParser(
        prog="iris-envs",
        description="Build warm, cached InterSystems IRIS test environments and run tests in them.",
        epilog="Exit codes: 0 ok, 1 command failed, 2 configuration/usage error, 3 unknown "
        "environment, 4 Docker unavailable, 5 build failed, 6 not ready, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"iris-envs {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = cast(CommandModule, importlib.import_module(module_name))
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(sub)
        sub.set_defaults(_execute=module.execute)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code (never raises for expected failures)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown or not getattr(args, "command", None):
        return _not_dispatched(parser, args, unknown, sys.argv[1:] if argv is None else list(argv))
    previous = signal.getsignal(signal.SIGTERM)
    # SIGTERM (CI cancelling a job) takes the same cleanup path as Ctrl-C: containers are
    # removed by the `finally` blocks that KeyboardInterrupt unwinds through.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        return int(args._execute(args))
    except IrisEnvsError as error:
        error = _engine_gone_instead(error)
        print(f"iris-envs: error: {error}", file=sys.stderr)
        _annotate(args, error)
        return int(error.exit_code)
    except KeyboardInterrupt:
        print("iris-envs: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # `iris-envs schema | head`: the reader left; point stdout at devnull so the interpreter's
        # final flush does not print a second error (Python docs, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.FAILED)
    except OSError as error:
        # A write into the cache folder that failed half-way (disk full, read-only): the
        # writes are atomic, so nothing partial is left; say which folder and what to do.
        from iris_envs.cache.folder import cache_folder_error, is_in_cache

        if not is_in_cache(error):
            raise
        translated = cache_folder_error(error)
        print(f"iris-envs: error: {translated}", file=sys.stderr)
        return int(translated.exit_code)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _not_dispatched(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    unknown: list[str],
    argv: list[str],
) -> int:
    """No command: the help. Options no command has: for `run` (`iris-envs run -k greet`) they
    were meant for the command, so say where they go; otherwise what parse_args says and does
    (exit 2)."""
    if not unknown:
        parser.print_help()
        return int(ExitCode.CONFIG_ERROR)
    if getattr(args, "command", None) != "run":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    from iris_envs.cli.run import misplaced_options

    error = misplaced_options(argv[argv.index("run") + 1 :], unknown, args.run_command)
    print(f"iris-envs: error: {error}", file=sys.stderr)
    return int(error.exit_code)


def _engine_gone_instead(error: IrisEnvsError) -> IrisEnvsError:
    """An engine error followed by an engine that stops answering is exit 4, not the command's
    (`run` applies the same per environment, the snapshot build for its own errors). Other
    errors pass through untouched: vanished_engine_error asks the engine about engine errors
    only, and creating the client does no I/O."""
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.engine.client import PING_TIMEOUT, vanished_engine_error

    # A client of its own with short timeouts: connecting already asks the engine's version.
    return vanished_engine_error(DockerEngine(timeout=PING_TIMEOUT), error)


def _annotate(args: argparse.Namespace, error: IrisEnvsError) -> None:
    """In GitHub Actions (or with `run --github`) the error that ended the command is also an
    annotation, at the configuration line it is about (run/github.py)."""
    from iris_envs.run import github

    if github.enabled(getattr(args, "github", None)):
        print(github.error_annotation(error, title=f"iris-envs {args.command}"), flush=True)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
