"""``iris-envs fixture validate|info|list|schema``: inspect and check .DAT fixture folders."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iris_envs.cli._common import add_config_option

if TYPE_CHECKING:
    from iris_envs.fixtures.manifest import Fixture

HELP = "create, check, inspect and list .DAT fixture folders (manifest.json + database files)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the ``fixture`` subcommands."""
    sub = parser.add_subparsers(dest="fixture_command", metavar="SUBCOMMAND", required=True)
    text = (
        "check a fixture folder: manifest schema, paths, file sizes and SHA-256 checksums; "
        "exit 0, or 2 listing every problem"
    )
    validate = sub.add_parser("validate", help=text, description=text)
    validate.add_argument("folder", type=Path, metavar="DIR", help="the fixture folder")

    text = "show a fixture's manifest (source, IRIS version, files, tables); no hashing"
    info = sub.add_parser("info", help=text, description=text)
    info.add_argument("folder", type=Path, metavar="DIR", help="the fixture folder")
    info.add_argument("--json", action="store_true", help="print the manifest as JSON")

    text = "list every fixture folder under PATH (default: the current folder)"
    listing = sub.add_parser("list", help=text, description=text)
    listing.add_argument(
        "path", type=Path, nargs="?", default=Path(), metavar="PATH", help="folder to search"
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")

    text = "print the JSON Schema of manifest.json (schema version 1)"
    sub.add_parser("schema", help=text, description=text)

    text = (
        "copy a database out of a running container into a fixture folder: a consistent copy "
        "(dismounted, or the instance frozen, and mounted/thawed again afterwards), hashed while "
        "it streams, table row counts through SQL, manifest.json written last"
    )
    create = sub.add_parser("create", help=text, description=text)
    add_config_option(create)
    where = create.add_mutually_exclusive_group(required=True)
    where.add_argument("--env", metavar="ENV", help="the container of `iris-envs up ENV`")
    where.add_argument("--container", metavar="NAME", help="any running IRIS container")
    what = create.add_mutually_exclusive_group()
    what.add_argument("--database", metavar="DB", help="the database to copy")
    what.add_argument(
        "--namespace",
        metavar="NS",
        help="copy this namespace's globals database (default with --env: the env's namespace)",
    )
    create.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR", help="the fixture folder"
    )
    create.add_argument("--description", default="", help="a line for the manifest")
    create.add_argument(
        "--force", action="store_true", help="overwrite the fixture in a non-empty DIR"
    )
    create.add_argument(
        "--method",
        choices=("dismount", "freeze"),
        default="dismount",
        help="how the copy is kept consistent: dismount the database (default), or freeze the "
        "instance's writes (Backup.General.ExternalFreeze) for a database that cannot be "
        "dismounted",
    )


def execute(args: argparse.Namespace) -> int:
    """Dispatch to the subcommand."""
    handler = {
        "validate": _validate,
        "info": _info,
        "list": _list,
        "schema": _schema,
        "create": _create,
    }[args.fixture_command]
    return handler(args)


def load_valid(folder: Path, *, check_hashes: bool) -> Fixture:
    """The fixture in ``folder``, or a ConfigError listing every problem (exit 2)."""
    from iris_envs.errors import ConfigError
    from iris_envs.fixtures.manifest import FIX_HINT, FixtureInvalid
    from iris_envs.fixtures.validate import validate_fixture

    try:
        return validate_fixture(folder, check_hashes=check_hashes)
    except FixtureInvalid as invalid:
        raise ConfigError(invalid.report(), hint=FIX_HINT) from None


def _validate(args: argparse.Namespace) -> int:
    from iris_envs.cache.hashing import default_cache
    from iris_envs.fixtures.manifest import FixtureInvalid, read_manifest
    from iris_envs.fixtures.validate import validate_fixture
    from iris_envs.progress import Reporter, human_bytes

    manifest, _ = read_manifest(args.folder)
    reporter = Reporter()
    total = manifest.total_bytes if manifest is not None else 0
    done = 0
    problems: FixtureInvalid | None = None
    with reporter.step(f"validating {args.folder}") as handle:

        def progress(count: int) -> None:
            nonlocal done
            done += count
            handle.update(f"{human_bytes(done)} of {human_bytes(total)} hashed")

        # Every byte is read (validate never trusts a stat), and the hashes go into the key's
        # stat cache: a build right after a validate does not read the fixture again.
        cache = default_cache()
        try:
            fixture = validate_fixture(
                args.folder, hasher=lambda path: cache.rehash(path.resolve(), progress)
            )
        except FixtureInvalid as invalid:
            handle.detail = "invalid"
            problems = invalid
        else:
            handle.detail = f"{human_bytes(fixture.manifest.total_bytes)} checked"
        finally:
            cache.save()
    if problems is not None:
        print(f"iris-envs: error: {problems.report()}", file=sys.stderr)
        return 2
    print(f"{args.folder}: valid ({len(fixture.manifest.files)} file(s), checksums match)")
    return 0


def _info(args: argparse.Namespace) -> int:
    from iris_envs.progress import human_bytes

    fixture = load_valid(args.folder, check_hashes=False)
    manifest = fixture.manifest
    if args.json:
        print(json.dumps(manifest.to_json(), indent=2))
        return 0
    rows = [
        ("fixture", f"{manifest.fixture_id} {manifest.version}"),
        ("description", manifest.description or "-"),
        ("created", manifest.created_at),
        ("IRIS version", manifest.iris_version),
        ("source", f"database {manifest.source_database}, namespace {manifest.source_namespace}"),
        ("size", f"{human_bytes(manifest.total_bytes)} in {len(manifest.files)} file(s)"),
    ]
    for label, value in rows:
        print(f"{label + ':':<14}{value}")
    print("files:")
    for entry in manifest.files:
        print(f"  {entry.path}  {entry.size:,} bytes  {entry.sha256}")
    print("tables:" + ("" if manifest.tables else " (none recorded)"))
    for table in manifest.tables:
        print(f"  {table.name}  {table.row_count:,} rows")
    if manifest.features:
        print("features: " + json.dumps(manifest.features, sort_keys=True))
    if manifest.known_queries:
        print(f"known queries: {len(manifest.known_queries)}")
        for query in manifest.known_queries:
            print(f"  {json.dumps(query, sort_keys=True)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from iris_envs.errors import ConfigError
    from iris_envs.fixtures.manifest import read_manifest
    from iris_envs.fixtures.validate import find_fixtures
    from iris_envs.progress import human_bytes

    if not args.path.is_dir():
        raise ConfigError(f"fixture list: {args.path} is not a folder")
    found: list[dict[str, Any]] = []
    for folder in find_fixtures(args.path):
        manifest, problems = read_manifest(folder)
        entry: dict[str, Any] = {"path": str(folder)}
        if manifest is None:
            entry["problems"] = problems
        else:
            entry.update(
                fixture_id=manifest.fixture_id,
                version=manifest.version,
                iris_version=manifest.iris_version,
                source_database=manifest.source_database,
                bytes=manifest.total_bytes,
                tables=len(manifest.tables),
            )
        found.append(entry)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found:
        print(f"no fixture folders (folders with a manifest.json) under {args.path}")
        return 0
    header = ("PATH", "FIXTURE", "VERSION", "IRIS", "DATABASE", "SIZE")
    rows = [
        (
            entry["path"],
            entry.get("fixture_id", "(invalid manifest)"),
            entry.get("version", "-"),
            entry.get("iris_version", "-"),
            entry.get("source_database", "-"),
            human_bytes(entry["bytes"]) if "bytes" in entry else "-",
        )
        for entry in found
    ]
    widths = [max(len(str(row[i])) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        cells = (str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


def _schema(args: argparse.Namespace) -> int:
    from iris_envs.fixtures.schema import fixture_schema

    print(json.dumps(fixture_schema(), indent=2))
    return 0


def _create(args: argparse.Namespace) -> int:
    from iris_envs.engine.adapter import DockerEngine
    from iris_envs.errors import ConfigError, UnknownEnvironment
    from iris_envs.fixtures.create import CreateOptions, create_fixture
    from iris_envs.progress import Reporter, human_bytes

    engine = DockerEngine()
    namespace = args.namespace
    if args.env:
        from iris_envs.cli._common import load_project_from_args
        from iris_envs.config.selection import select_one
        from iris_envs.run.up_instance import find_up_instance

        spec = select_one(load_project_from_args(args), args.env)
        instance = find_up_instance(engine, spec)
        if instance is None:
            raise UnknownEnvironment(
                f"fixture create: environment {spec.name} has no running `up` container",
                hint=f"start one with `iris-envs up {spec.name}`, load the data, then run this "
                "again",
            )
        container = instance.container
        if not args.database and not namespace:
            namespace = spec.namespace
    else:
        found = engine.inspect_container(args.container)
        if found is None or not found.running:
            state = "does not exist" if found is None else f"is not running ({found.status})"
            raise ConfigError(f"fixture create: container {args.container!r} {state}")
        container = found
        if not args.database and not namespace:
            raise ConfigError(
                "fixture create: with --container, name the database (--database DB) or its "
                "namespace (--namespace NS)"
            )
    reporter = Reporter()
    copied = 0
    with reporter.step(f"fixture create {args.output}") as handle:

        def progress(count: int) -> None:
            nonlocal copied
            copied += count
            handle.update(f"{human_bytes(copied)} copied")

        manifest = create_fixture(
            engine,
            CreateOptions(
                container_id=container.id,
                container_name=container.name,
                database=args.database.upper() if args.database else None,
                namespace=namespace.upper() if namespace else None,
                output=args.output,
                description=args.description,
                force=args.force,
                method=args.method,
            ),
            on_bytes=progress,
            on_step=reporter.line,
        )
        handle.detail = f"{human_bytes(manifest.total_bytes)}"
    tables = f", {len(manifest.tables)} table(s) counted" if manifest.tables else ""
    print(
        f"{args.output}: fixture {manifest.fixture_id} of database {manifest.source_database} "
        f"(IRIS {manifest.iris_version}){tables}"
    )
    return 0
