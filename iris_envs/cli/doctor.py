"""``iris-envs doctor``: check engine, disks, cache, configuration and leftovers; say the fix."""

from __future__ import annotations

import argparse

from iris_envs.cli._common import add_config_option

HELP = "check the Docker engine, free disk, cache folder, configuration and leftovers, with fixes"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``doctor``."""
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def execute(args: argparse.Namespace) -> int:
    """Run every check; exit 1 when one fails (warnings do not fail)."""
    import json

    from iris_envs.cli.doctor_checks import FAIL, run_checks
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.exit_codes import ExitCode

    checks = run_checks(DockerEngine(), args.config)
    if args.json:
        print(json.dumps([c.as_dict() for c in checks], indent=2))
    else:
        for check in checks:
            print(f"{check.status.upper():4}  {check.name}: {check.detail}")
            if check.fix and check.status != "pass":
                print(f"      fix: {check.fix}")
    failed = any(c.status == FAIL for c in checks)
    return int(ExitCode.FAILED) if failed else int(ExitCode.OK)
