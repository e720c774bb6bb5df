"""The fixture folder format: manifest schema, hostile manifests, validation, and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iris_envs import cli, hashing
from iris_envs.config import load_project
from iris_envs.errors import BuildFailed, ConfigError, OutputFolderError
from iris_envs.fixtures import (
    CHUNK,
    MANIFEST_NAME,
    FixtureInvalid,
    dat_fixture,
    find_fixtures,
    fixture_schema,
    iris_version_tuple,
    is_newer,
    sha256_file,
    validate_fixture,
)
from iris_envs.hashing import HashCache
from iris_envs.key import BaseImage, key_inputs

DATA = bytes(range(256)) * 4099  # not a multiple of the 1 MiB chunk


def make_fixture(folder: Path, contents: dict[str, bytes] | None = None, **overrides: Any) -> Path:
    """A valid fixture folder holding ``contents`` (default: IRIS.DAT of known bytes)."""
    contents = {"IRIS.DAT": DATA} if contents is None else contents
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, data in contents.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        entries.append({"path": name, "size": len(data), "sha256": digest})
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "fixture_id": "orders",
        "version": "1",
        "description": "orders with rows",
        "created_at": "2026-11-22T12:00:00Z",
        "iris_version": "2024.1.0.262.0",
        "source_namespace": "APP",
        "source_database": "ORDERS",
        "files": entries,
        "tables": [{"name": "App.Orders", "row_count": 3}],
        "features": {"unicode": True},
    }
    manifest.update(overrides)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(FixtureInvalid) as caught:
        validate_fixture(folder)
    return caught.value.problems


def test_a_valid_fixture_validates_and_its_manifest_matches_the_published_schema(
    tmp_path: Path,
) -> None:
    folder = make_fixture(tmp_path / "fx")
    fixture = validate_fixture(folder)
    assert fixture.manifest.files[0].size == len(DATA)
    assert fixture.manifest.tables[0].row_count == 3
    schema = fixture_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads((folder / MANIFEST_NAME).read_text()), schema)
    assert fixture.manifest.to_json() == json.loads((folder / MANIFEST_NAME).read_text())


def test_sha256_file_streams_in_chunks_and_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(os.urandom(CHUNK * 2 + 17))
    seen: list[int] = []
    assert (
        sha256_file(path, seen.append) == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    )
    assert seen == [CHUNK, CHUNK, 17]


def test_one_flipped_byte_names_the_file_and_both_hashes(tmp_path: Path) -> None:
    folder = make_fixture(tmp_path / "fx")
    data = bytearray(DATA)
    data[1000] ^= 0x01
    (folder / "IRIS.DAT").write_bytes(data)
    [problem] = problems_of(folder)
    assert "IRIS.DAT: checksum mismatch" in problem
    assert "sha256:" + hashlib.sha256(DATA).hexdigest() in problem
    assert "sha256:" + hashlib.sha256(bytes(data)).hexdigest() in problem


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    folder = make_fixture(tmp_path / "fx", {"a.dat": b"aaaa", "b.dat": b"bbbb", "c.dat": b"cc"})
    (folder / "a.dat").write_bytes(b"aaaX")  # checksum
    (folder / "b.dat").write_bytes(b"bbbbb")  # size
    (folder / "c.dat").unlink()  # missing
    problems = problems_of(folder)
    assert len(problems) == 3
    assert any("a.dat: checksum mismatch" in p for p in problems)
    assert any("b.dat: size 5 bytes, but the manifest says 4" in p for p in problems)
    assert any("c.dat is missing" in p for p in problems)


def test_schema_problems_are_all_listed(tmp_path: Path) -> None:
    folder = make_fixture(
        tmp_path / "fx",
        schema_version=1,
        fixture_id="bad id!",
        iris_version="latest",
        tables=[{"name": "T"}],
        features=[],
        extra=1,
    )
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    del manifest["created_at"]
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    text = "\n".join(problems_of(folder))
    for expected in (
        "missing key(s) created_at",
        "unknown key(s) extra",
        "fixture_id 'bad id!'",
        "iris_version 'latest'",
        "tables[0]",
        "'features' must be an object",
    ):
        assert expected in text


HOSTILE_PATHS = [
    ("../x", "contains '..'"),
    ("a/../../x", "contains '..'"),
    ("/etc/passwd", "is absolute"),
    ("C:/Windows/x", "is absolute"),
    ("a\\..\\x", "backslash"),
    ("", "non-empty string"),
    ("./IRIS.DAT", "'.' component"),
    ("a//b", "empty or '.' component"),
    ("manifest.json", "names manifest.json itself"),
]


@pytest.mark.parametrize(("path", "why"), HOSTILE_PATHS)
def test_hostile_paths_are_rejected_before_any_file_is_touched(
    tmp_path: Path, path: str, why: str
) -> None:
    folder = make_fixture(tmp_path / "fx")
    files = [{"path": path, "size": 1, "sha256": "sha256:" + "0" * 64}]
    make_fixture(folder, {}, files=files)
    problems = problems_of(folder)
    assert any(why in p for p in problems), problems


def test_a_symlinked_file_or_folder_is_rejected_even_inside_the_fixture(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(DATA)
    folder = make_fixture(tmp_path / "fx")
    (folder / "IRIS.DAT").unlink()
    (folder / "IRIS.DAT").symlink_to(outside)
    assert "IRIS.DAT is a symlink" in problems_of(folder)[0]

    folder2 = make_fixture(tmp_path / "fx2", {"db/IRIS.DAT": DATA})
    (tmp_path / "real").mkdir()
    (folder2 / "db" / "IRIS.DAT").rename(tmp_path / "real" / "IRIS.DAT")
    (folder2 / "db").rmdir()
    (folder2 / "db").symlink_to(tmp_path / "real")
    assert "is a symlink (db)" in problems_of(folder2)[0]


def test_a_symlinked_manifest_is_rejected(tmp_path: Path) -> None:
    folder = make_fixture(tmp_path / "fx")
    (folder / MANIFEST_NAME).rename(tmp_path / "m.json")
    (folder / MANIFEST_NAME).symlink_to(tmp_path / "m.json")
    assert "must be a regular file" in problems_of(folder)[0]


@pytest.mark.parametrize(
    "text",
    ["", "{", "[]", "null", '"x"', '{"files": "IRIS.DAT"}', '{"schema_version": 2}', "\xff"],
)
def test_garbage_manifests_are_problems_not_crashes(tmp_path: Path, text: str) -> None:
    folder = tmp_path / "fx"
    folder.mkdir()
    (folder / MANIFEST_NAME).write_bytes(text.encode("latin-1"))
    assert problems_of(folder)


def test_a_newer_schema_version_says_to_upgrade(tmp_path: Path) -> None:
    folder = make_fixture(tmp_path / "fx", schema_version=2)
    assert "upgrade iris-envs" in problems_of(folder)[0]


def test_duplicate_paths_and_bad_sizes_and_hashes(tmp_path: Path) -> None:
    good = {"path": "IRIS.DAT", "size": len(DATA), "sha256": "sha256:" + "a" * 64}
    files = [
        good,
        {**good, "path": "iris.dat"},
        {"path": "x", "size": -1, "sha256": "md5:00"},
        {"path": "y", "size": True, "sha256": "sha256:" + "A" * 64},
        "IRIS.DAT",
    ]
    folder = make_fixture(tmp_path / "fx", files=files)
    text = "\n".join(problems_of(folder))
    assert "listed twice" in text
    assert "size must be a whole number of bytes, not -1" in text
    assert "size must be a whole number of bytes, not True" in text
    assert text.count("sha256 must be") == 2
    assert "files[4] must be an object" in text


def test_iris_versions_compare_release_then_build() -> None:
    assert iris_version_tuple("2024.1.0.262.0") == (2024, 1, 0, 262, 0)
    banner = "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build 262U) Thu Mar"
    assert iris_version_tuple(banner) == (2024, 1, 0, 262)
    assert is_newer("2025.1.0.223.0", "2024.1.0.262.0")
    assert is_newer("2024.1.0.263.0", banner)
    assert not is_newer("2024.1", "2024.1.0.262.0")
    assert not is_newer("2023.1.2.450.0", "2024.1")
    assert iris_version_tuple("latest") is None


def test_find_fixtures_does_not_follow_symlinked_folders(tmp_path: Path) -> None:
    make_fixture(tmp_path / "a")
    make_fixture(tmp_path / "b" / "c")
    (tmp_path / "loop").symlink_to(tmp_path)
    assert list(find_fixtures(tmp_path)) == [tmp_path / "a", tmp_path / "b" / "c"]


def test_cli_validate_exits_0_or_2_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_fixture(tmp_path / "fx", {"a.dat": b"aaaa", "b.dat": b"bbbb"})
    code, out, _ = run(capsys, "fixture", "validate", str(folder))
    assert code == 0 and "valid" in out
    (folder / "a.dat").write_bytes(b"aaaX")
    (folder / "b.dat").write_bytes(b"bbbX")
    code, _, err = run(capsys, "fixture", "validate", str(folder))
    assert code == 2
    assert "2 problems" in err and "a.dat: checksum mismatch" in err and "b.dat" in err
    assert "Traceback" not in err


def test_cli_validate_of_a_missing_folder_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "fixture", "validate", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err


def test_cli_info_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_fixture(tmp_path / "fx")
    code, out, _ = run(capsys, "fixture", "info", str(folder))
    assert code == 0
    assert "orders 1" in out and "App.Orders  3 rows" in out and "2024.1.0.262.0" in out
    code, out, _ = run(capsys, "fixture", "info", "--json", str(folder))
    assert code == 0 and json.loads(out)["fixture_id"] == "orders"
    (folder / MANIFEST_NAME).write_text("{}")
    code, _, err = run(capsys, "fixture", "info", str(folder))
    assert code == 2 and "missing key(s)" in err and "Traceback" not in err


def test_cli_list_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_fixture(tmp_path / "fixtures" / "orders")
    broken = tmp_path / "fixtures" / "broken"
    broken.mkdir()
    (broken / MANIFEST_NAME).write_text("{")
    code, out, _ = run(capsys, "fixture", "list", str(tmp_path))
    assert code == 0
    assert "orders" in out and "(invalid manifest)" in out and "ORDERS" in out
    code, out, _ = run(capsys, "fixture", "list", "--json", str(tmp_path))
    listed = json.loads(out)
    assert [Path(e["path"]).name for e in listed] == ["broken", "orders"]
    assert listed[1]["bytes"] == len(DATA) and "problems" in listed[0]
    code, _, err = run(capsys, "fixture", "list", str(tmp_path / "nope"))
    assert code == 2 and "is not a folder" in err


def test_cli_schema_is_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fixture", "schema")
    assert code == 0
    jsonschema.Draft202012Validator.check_schema(json.loads(out))


def dat_project(tmp_path: Path, step: str, namespace: str = "USER") -> Path:
    make_fixture(tmp_path / "fixtures" / "orders")
    config = f'[env.app]\nimage = "x"\nnamespace = "{namespace}"\nsetup = [{step}]\n'
    (tmp_path / "iris-envs.toml").write_text(config)
    return tmp_path / "iris-envs.toml"


@pytest.mark.parametrize(
    "mount", ["globals", "globals:", "globals:1x", "everything", "globals:a b"]
)
def test_a_bad_mount_option_is_a_config_error(tmp_path: Path, mount: str) -> None:
    config = dat_project(tmp_path, f'{{ dat = "fixtures/orders", mount = "{mount}" }}')
    with pytest.raises(ConfigError, match=r"setup\[1\]\.mount.*globals:PATTERN"):
        load_project(config)


@pytest.mark.parametrize("mount", ["namespace", "globals:Orders*", "globals:%Z*", "database"])
def test_good_mount_options(tmp_path: Path, mount: str) -> None:
    config = dat_project(tmp_path, f'{{ dat = "fixtures/orders", mount = "{mount}" }}')
    assert load_project(config).envs["app"].setup[0].option("mount") == mount


def test_mapping_a_fixture_into_percent_sys_is_refused(tmp_path: Path) -> None:
    config = dat_project(tmp_path, '{ dat = "fixtures/orders", namespace = "%SYS" }')
    with pytest.raises(ConfigError, match="cannot be mapped into %SYS"):
        load_project(config)
    config = dat_project(
        tmp_path, '{ dat = "fixtures/orders", namespace = "%SYS", mount = "database" }'
    )
    load_project(config)


def test_a_dat_database_named_like_the_created_namespace_is_refused(tmp_path: Path) -> None:
    # issue 8 item 6: mgr/app/ holds the IRIS.DAT of namespace APP that iris-envs creates.
    config = dat_project(tmp_path, '{ dat = "fixtures/orders", database = "APP" }', "APP")
    with pytest.raises(ConfigError, match="would overwrite the database iris-envs creates"):
        load_project(config)


def test_the_key_holds_the_manifest_checksums_and_reuses_the_stat_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = dat_project(tmp_path, '{ dat = "fixtures/orders" }')
    spec = load_project(config).envs["app"]
    cache = HashCache(tmp_path / "hashes.json")
    base = BaseImage("x", None)
    content = key_inputs(spec, base, "linux/amd64", cache)["setup"][0]["content"]
    assert content["type"] == "fixture"
    assert content["files"][0]["sha256"] == "sha256:" + hashlib.sha256(DATA).hexdigest()
    cache.save()
    calls: list[Path] = []
    real = hashing._sha256_file
    monkeypatch.setattr(hashing, "_sha256_file", lambda path: calls.append(path) or real(path))
    os.utime(tmp_path / "fixtures/orders/IRIS.DAT", (1, 1))  # out of the racy window
    again = HashCache(tmp_path / "hashes.json")
    key_inputs(spec, base, "linux/amd64", again)
    again.save()
    third = HashCache(tmp_path / "hashes.json")
    key_inputs(spec, base, "linux/amd64", third)
    assert len(calls) == 1  # re-hashed once after the mtime change, then served from the cache


def test_a_key_of_a_corrupt_fixture_is_a_config_error_naming_the_step(tmp_path: Path) -> None:
    config = dat_project(tmp_path, '{ dat = "fixtures/orders" }')
    (tmp_path / "fixtures/orders/IRIS.DAT").write_bytes(DATA[:-1] + b"!")
    spec = load_project(config).envs["app"]
    with pytest.raises(
        ConfigError, match=r"(?s)setup\[1\] dat fixtures/orders: .*checksum mismatch"
    ):
        key_inputs(spec, BaseImage("x", None), "linux/amd64", HashCache(None))


def test_a_fixture_without_iris_dat_is_refused_for_a_dat_step(tmp_path: Path) -> None:
    folder = make_fixture(tmp_path / "fx", {"other.dat": b"x"})
    (folder / "IRIS.DAT").write_bytes(b"not listed")
    with pytest.raises(FixtureInvalid, match=r"lists no IRIS\.DAT"):
        dat_fixture(folder)


class _StubEngine:
    """copy_out only: writes the partial file, then fails the way the test says."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def copy_out(self, container_id: str, path: str, destination: Path, **kw: Any) -> Any:
        partial = destination / kw["rename"]["IRIS.DAT"]
        partial.write_bytes(b"half")
        if self.error is not None:
            raise self.error
        return {"IRIS.DAT": (4, "sha256:" + hashlib.sha256(b"half").hexdigest())}


def record_sessions(
    monkeypatch: pytest.MonkeyPatch, database: str = "ORDERS", directory: str = "orders/"
) -> list[str]:
    """Record every ObjectScript session fixture create runs; answer the probe like IRIS, with
    ``database`` in mgr/``directory``."""
    from iris_envs import fixture_create
    from iris_envs.objectscript import SessionResult

    ran: list[str] = []

    def fake(engine: object, cid: str, body: list[str], **kw: Any) -> SessionResult:
        ran.append("\n".join(body))
        return SessionResult(
            f"IRIS-ENVS-ZVERSION:IRIS for UNIX 2025.1 (Build 223U)\nIRIS-ENVS-DB:{database}\n"
            f"IRIS-ENVS-DIR:/usr/irissys/mgr/{directory}\n"
        )

    monkeypatch.setattr(fixture_create, "run_session", fake)
    return ran


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return record_sessions(monkeypatch)


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (KeyboardInterrupt(), KeyboardInterrupt),
        # A host-side error is the output folder's (exit 2, named), never a traceback.
        (OSError(28, "No space left on device"), OutputFolderError),
    ],
)
def test_create_mounts_again_and_leaves_no_fixture_when_the_copy_fails(
    tmp_path: Path, sessions: list[str], error: BaseException, raised: type[BaseException]
) -> None:
    from iris_envs.fixture_create import CreateOptions, create_fixture

    options = CreateOptions("cid", "name", "ORDERS", None, tmp_path / "out")
    with pytest.raises(raised):
        create_fixture(_StubEngine(error), options)  # type: ignore[arg-type]
    assert "DismountDatabase(path)" in sessions[-2] and "MountDatabase(path)" in sessions[-1]
    assert list((tmp_path / "out").iterdir()) == []  # no manifest, no partial file


def test_create_writes_the_manifest_last_and_it_validates(
    tmp_path: Path, sessions: list[str]
) -> None:
    from iris_envs.fixture_create import CreateOptions, create_fixture

    options = CreateOptions("cid", "name", "ORDERS", None, tmp_path / "out", method="freeze")
    manifest = create_fixture(_StubEngine(None), options)  # type: ignore[arg-type]
    assert manifest.iris_version == "2025.1.0.223"
    assert "ExternalFreeze()" in sessions[-2] and "ExternalThaw()" in sessions[-1]
    fixture = validate_fixture(tmp_path / "out")
    assert fixture.manifest.source_database == "ORDERS"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["IRIS.DAT", "manifest.json"]


def test_member_names_never_leave_the_destination() -> None:
    from iris_envs.docker_adapter import _member_name

    assert _member_name("orders/IRIS.DAT") == "IRIS.DAT"
    assert _member_name("IRIS.DAT") == "IRIS.DAT"
    assert _member_name("orders/../../etc/passwd") is None
    assert _member_name("/abs/x") is None
    assert _member_name("orders/sub/x") == "sub/x"


# --- the restore's row-count check (issue 10 item 4; real IRIS answers the SQL) ---------------


class _SqlEngine:
    """Answers the row-count session like IRIS would, from ``counts`` (name -> count or error)."""

    def __init__(self, counts: dict[str, str]) -> None:
        self.counts = counts
        self.calls: list[dict[str, object]] = []

    def exec(self, container_id: str, command: list[str], **kwargs: object) -> object:
        import re as _re

        from iris_envs.dat_step import ROWS_MARKER
        from iris_envs.docker_adapter import ExecResult

        self.calls.append({"command": command, **kwargs})
        environment = dict(kwargs["environment"])  # type: ignore[call-overload]
        names = [
            environment[f"IRIS_ENVS_TABLE_{i}"]
            for i in range(1, int(environment["IRIS_ENVS_TABLE_COUNT"]) + 1)
        ]
        lines = [
            f"{ROWS_MARKER}{name}:{self.counts[name]}" for name in names if name in self.counts
        ]
        nonce = _re.search(rb"IRIS-ENVS-OK-([0-9a-f]+)", kwargs["stdin"]).group(1).decode()  # type: ignore[arg-type, union-attr]
        return ExecResult(0, "\n".join([*lines, f"IRIS-ENVS-OK-{nonce}"]))


def _table_fixture(
    root: Path, tables: list[dict[str, object]], mount: str = "namespace"
) -> tuple[Any, Any]:
    from iris_envs.manifest import EnvSpec, SetupStep, StepKind

    folder = root / "orders"
    folder.mkdir()
    data = b"x" * 10
    (folder / "IRIS.DAT").write_bytes(data)
    manifest = {
        "schema_version": 1,
        "fixture_id": "orders",
        "version": "1",
        "description": "",
        "created_at": "2026-11-22T00:00:00Z",
        "iris_version": "2024.1",
        "source_namespace": "APP",
        "source_database": "APP",
        "files": [
            {"path": "IRIS.DAT", "size": 10, "sha256": "sha256:" + hashlib.sha256(data).hexdigest()}
        ],
        "tables": tables,
        "features": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    step = SetupStep(1, StepKind.DAT, "orders", folder, None, (("mount", mount),))
    return EnvSpec(name="e", namespace="APP", project_root=root), step


def test_restored_row_counts_that_match_the_manifest_pass(tmp_path: Path) -> None:
    from iris_envs.dat_step import check_row_counts

    spec, step = _table_fixture(
        tmp_path, [{"name": "Shop.Orders", "row_count": 3}, {"name": 'Odd."Name', "row_count": 0}]
    )
    engine = _SqlEngine({"Shop.Orders": "3", 'Odd."Name': "0"})
    assert "2 table row count(s) match" in check_row_counts(engine, "c", spec, step, timeout=5)  # type: ignore[arg-type]
    [call] = engine.calls
    assert call["command"][-2:] == ["-U", "APP"]  # type: ignore[index]
    # Table names travel as variables, never inside the script.
    assert b"Shop.Orders" not in call["stdin"] and b"Odd" not in call["stdin"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"Shop.Orders": "2"}, "Shop.Orders: 2 rows, the manifest says 3"),
        ({}, "Shop.Orders: no row count came back"),
        (
            {"Shop.Orders": "ERR:Table 'SHOP.ORDERS' not found: SQLCODE -30"},
            "SQL failed (Table 'SHOP.ORDERS' not found: SQLCODE -30)",
        ),
    ],
)
def test_restored_row_counts_that_differ_fail_the_build_naming_the_table(
    tmp_path: Path, answer: dict[str, str], message: str
) -> None:
    from iris_envs.dat_step import check_row_counts
    from iris_envs.errors import BuildFailed

    spec, step = _table_fixture(tmp_path, [{"name": "Shop.Orders", "row_count": 3}])
    with pytest.raises(BuildFailed) as raised:
        check_row_counts(_SqlEngine(answer), "c", spec, step, timeout=5)  # type: ignore[arg-type]
    assert message in str(raised.value) and "nothing was committed" in str(raised.value)


def test_row_counts_are_not_checked_when_the_namespace_does_not_use_the_database(
    tmp_path: Path,
) -> None:
    from iris_envs.dat_step import check_row_counts

    spec, step = _table_fixture(
        tmp_path, [{"name": "Shop.Orders", "row_count": 3}], mount="database"
    )
    engine = _SqlEngine({})
    assert check_row_counts(engine, "c", spec, step, timeout=5) == ""  # type: ignore[arg-type]
    assert engine.calls == []


def test_validate_reads_every_byte_and_a_following_key_reads_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from iris_envs.fixtures import fixture_key_content

    folder = make_fixture(tmp_path / "orders")
    os.utime(folder / "IRIS.DAT", ns=(10**18, 10**18))  # outside the racy window
    reads: list[Path] = []
    real = hashing.sha256_file
    monkeypatch.setattr(hashing, "sha256_file", lambda p, cb=None: reads.append(p) or real(p, cb))
    monkeypatch.setattr(hashing, "_sha256_file", lambda p: reads.append(p) or real(p))
    assert run(capsys, "fixture", "validate", str(folder))[0] == 0
    assert run(capsys, "fixture", "validate", str(folder))[0] == 0
    assert len(reads) == 2  # validate never trusts the stat cache
    hashing._caches.clear()  # a new process: the cache comes from disk
    content = fixture_key_content(folder.resolve(), "setup[1]", hashing.default_cache().file_hash)
    assert content["files"][0]["sha256"] == "sha256:" + hashlib.sha256(DATA).hexdigest()
    assert len(reads) == 2  # the key reused validate's hash


def test_a_second_create_into_the_same_folder_is_refused_while_the_first_runs(
    tmp_path: Path,
) -> None:
    import threading

    from iris_envs import fixture_create

    options = fixture_create.CreateOptions(
        container_id="c",
        container_name="c",
        database="ORDERS",
        namespace=None,
        output=tmp_path / "out",
    )
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with fixture_create._exclusive(options.output):
            inside.set()
            release.wait(10)

    holder = threading.Thread(target=first)
    holder.start()
    assert inside.wait(10)
    try:
        with pytest.raises(ConfigError, match="another iris-envs process is writing a fixture"):
            fixture_create.create_fixture(None, options)  # type: ignore[arg-type]
        assert not (tmp_path / "out").exists()  # refused before touching the folder
    finally:
        release.set()
        holder.join()


def test_a_manifest_that_cannot_be_written_leaves_no_database_copy_behind(
    tmp_path: Path, sessions: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The disk fills up after the copy, at the manifest: the copied IRIS.DAT (gigabytes, and
    # no fixture without its manifest) goes too, and the error names the folder (exit 2).
    from iris_envs import fixture_create
    from iris_envs.fixture_create import CreateOptions, create_fixture

    def full(output: Path, manifest: object) -> None:
        (output / ".manifest.json.partial").write_text("{")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fixture_create, "write_manifest", full)
    out = tmp_path / "out"
    with pytest.raises(OutputFolderError, match=r"cannot write the fixture into .*No space") as e:
        create_fixture(_StubEngine(None), CreateOptions("cid", "name", "ORDERS", None, out))  # type: ignore[arg-type]
    assert e.value.exit_code == 2
    assert list(out.iterdir()) == []
    assert "MountDatabase(path)" in sessions[-1]


def test_a_forced_create_that_fails_before_its_copy_keeps_the_old_database_file(
    tmp_path: Path, sessions: list[str]
) -> None:
    from iris_envs.fixture_create import CreateOptions, create_fixture

    out = tmp_path / "out"
    out.mkdir()
    (out / "IRIS.DAT").write_bytes(b"old")
    (out / "manifest.json").write_text("{}")
    options = CreateOptions("cid", "name", "ORDERS", None, out, force=True)
    with pytest.raises(KeyboardInterrupt):
        create_fixture(_StubEngine(KeyboardInterrupt()), options)  # type: ignore[arg-type]
    # The manifest went first (no half-overwritten fixture); the user's old file is not ours.
    assert sorted(p.name for p in out.iterdir()) == ["IRIS.DAT"]


@pytest.mark.parametrize(("database", "namespace"), [("IRISSYS", None), (None, "%SYS")])
def test_create_refuses_to_dismount_the_instance_s_own_databases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str | None, namespace: str | None
) -> None:
    from iris_envs.fixture_create import CreateOptions, create_fixture

    ran = record_sessions(monkeypatch, "IRISSYS", "")
    options = CreateOptions("cid", "name", database, namespace, tmp_path / "out")
    with pytest.raises(ConfigError, match="IRISSYS is one of the instance's own databases"):
        create_fixture(_StubEngine(None), options)  # type: ignore[arg-type]
    assert len(ran) == 1 and "DismountDatabase" not in ran[0]  # only the look-up ran
    # Under an external freeze nothing is dismounted: allowed.
    frozen = CreateOptions("cid", "name", database, namespace, tmp_path / "f", method="freeze")
    assert create_fixture(_StubEngine(None), frozen).source_database == "IRISSYS"  # type: ignore[arg-type]


@pytest.mark.parametrize("mount_fails", [False, True])
def test_a_fixture_newer_than_the_image_is_named_even_when_its_mount_failed_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mount_fails: bool
) -> None:
    """The version is read by the mount's own session: whether IRIS refused the newer database
    or mounted it, the build fails naming the versions, not the mount."""
    from iris_envs import dat_step
    from iris_envs.dat_step import DatCopy, run_dat
    from iris_envs.objectscript import ScriptFailed, SessionResult

    spec, step = _table_fixture(tmp_path, [])
    banner = "IRIS-ENVS-ZVERSION:IRIS for UNIX (Ubuntu Server LTS) 2023.1 (Build 229U)\n"
    bodies: list[list[str]] = []

    def session(engine: object, cid: str, body: list[str], **kw: Any) -> SessionResult:
        bodies.append(body)
        if mount_fails:
            raise ScriptFailed("mount failed", output=banner + "ERROR #5xxx", error_text="")
        return SessionResult(banner)

    monkeypatch.setattr(dat_step, "run_session", session)
    copied = DatCopy("/usr/irissys/mgr/orders/", 10)
    with pytest.raises(BuildFailed, match=r"made by IRIS 2024\.1, newer than this image's IRIS"):
        run_dat(object(), "c", spec, step, timeout=5, copied=copied)  # type: ignore[arg-type]
    [body] = bodies  # one session: the version line first, then the mount
    assert "$ZVERSION" in body[0] and "MountDatabase" in "\n".join(body[1:])
