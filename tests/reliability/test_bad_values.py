"""Bad values get one clear error (issue 22, items 11, 12, 13 and 16): control characters,
trailing newlines, deeply nested JSON and TOML, out-of-range ports, a read-only cache folder,
and archives that are invalid or unreadable. In-process and offline unless a row says so."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from iris_envs import bounded, naming
from iris_envs.cli import _common
from iris_envs.cli.main import main
from iris_envs.config.context import Context, Field
from iris_envs.config.fields import resolve_env
from iris_envs.config.values import check_registry
from iris_envs.engine import adapter
from iris_envs.engine.exec import ExecOps
from iris_envs.errors import ConfigError, DockerOperationFailed
from iris_envs.exit_codes import ExitCode
from iris_envs.fixtures.manifest import read_manifest
from iris_envs.key.explain import parse_inputs_label
from iris_envs.share.archive_read import ArchiveInvalid
from tests.unit import FakeEngine, image, write
from tests.unit.fixtures.test_manifest import make_fixture

SECRET = "hunter2-Secret"
CONFIG = ExitCode.CONFIG_ERROR


class Engine(FakeEngine):
    """FakeEngine with what `cache` asks besides images, made as DockerEngine is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def add_snapshot(
        self, env: str, key: str, inputs: Mapping[str, object], created: str, *, project: Path
    ) -> None:
        super().add_snapshot(env, key, inputs, created, project=project)
        self.images[-1].labels[naming.LABEL_ROLE] = "snapshot"

    def containers_of_image(self, image_id: str) -> list[str]:
        return []


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def project(root: Path, body: str) -> str:
    return str(write(root / "iris-envs.toml", body))


# --- item 11: control characters in names and secrets; a secret is never echoed ----------------


@pytest.mark.parametrize(
    "body",
    [
        f'[env.e]\npassword = "{SECRET}\\u0000x"\n',
        f'[env.e]\npassword = "{SECRET}\\n"\n',
        '[env."e\\u0007"]\n',
        '[env.e]\nusername = "test\\u001b[31m"\n',
        '[env.e]\nlabels = { "a\\u0000" = "x" }\n',
        '[env.e]\ndescription = "nul\\u0000here"\n',
        '[matrix.m]\nversion = ["1\\u0000"]\n',
    ],
)
def test_a_control_character_anywhere_is_exit_2_and_the_value_never_shown(
    tmp_path: Path, body: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project(tmp_path, body)
    for argv in (
        ["list", "-c", config],
        ["key", "--offline", "-c", config],
        ["config", "-c", config],
    ):
        code, out, err = cli(capsys, *argv)
        assert code == CONFIG, err
        assert "control character" in err and SECRET not in err + out


def test_multi_line_free_text_and_shell_scripts_are_still_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (
        '[env.e]\ndescription = """two\nlines"""\nlabels = { a = "x\\ty" }\n'
        'setup = [{ shell = """\nset -e\n\techo ok\n""" }]\n'
    )
    code, _, err = cli(capsys, "key", "--offline", "-c", project(tmp_path, body), "e")
    assert code == 0, err
    code, _, err = cli(
        capsys,
        "key",
        "--offline",
        "-c",
        project(tmp_path, body + '#\n[env.f]\nsetup = [{ shell = "a\\u0000" }]\n'),
    )
    assert code == CONFIG and "control character (U+0000 at position 2" in err, err


def test_a_password_variable_holding_a_control_character_is_refused_unshown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IRIS_ENVS_TEST_PW", SECRET + "\n")  # an env var cannot hold NUL
    config = project(tmp_path, '[env.e]\npassword = "$IRIS_ENVS_TEST_PW"\n')
    code, _, err = cli(capsys, "key", "--offline", "-c", config)
    assert code == CONFIG and "$IRIS_ENVS_TEST_PW" in err and SECRET not in err


def test_an_engine_error_quoting_an_exec_secret_is_redacted() -> None:
    import docker.errors

    class Api:
        def exec_create(self, *args: Any, environment: dict[str, str], **kwargs: Any) -> Any:
            raise docker.errors.APIError(f"invalid env {environment}")  # as an engine quotes it

    class Sdk:
        api = Api()

    engine = ExecOps(client_factory=Sdk)
    env = {"IRIS_ENVS_PASSWORD": SECRET, "IRIS_ENVS_NAMESPACE": "USER"}
    with pytest.raises(DockerOperationFailed) as caught:
        engine.exec("c" * 64, ["iris", "session"], environment=env)
    assert SECRET not in str(caught.value) and "********" in str(caught.value)
    assert "USER" in str(caught.value)  # only secrets are hidden


# --- item 12: a trailing newline passes no pattern -----------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("namespace", "USER\n"),
        ("username", "test\n"),
        ("image", "busybox:1\n"),
        ("platform", "linux/amd64\n"),
        ("tags", ["fast\n"]),
        ("setup", [{"shell": "true", "user": "root\n"}]),
        ("setup", [{"ipm": "zpm\n"}]),
        ("setup", [{"ipm": "zpm", "version": "1.0\n"}]),
        ("setup", [{"sql": "a.sql", "namespace": "APP\n"}]),
    ],
)
def test_a_trailing_newline_fails_validation_even_past_the_control_character_check(
    tmp_path: Path, key: str, value: object
) -> None:
    # resolve_env directly: the patterns themselves must refuse it, not only check_printable.
    write(tmp_path / "a.sql", "SELECT 1")
    ctx = Context(tmp_path / "iris-envs.toml", "", tmp_path)
    with pytest.raises(ConfigError, match="invalid"):
        resolve_env("e", {key: Field(value, ("env", "e", key))}, ctx)


def test_a_trailing_newline_in_an_env_name_or_registry_is_refused(tmp_path: Path) -> None:
    from iris_envs.config.context import check_env_name

    with pytest.raises(ConfigError, match="invalid environment name"):
        check_env_name(Context(tmp_path, "", tmp_path), ("env",), "app\n")
    with pytest.raises(ConfigError, match="invalid registry"):
        check_registry("ghcr.io/acme/x\n\n/y", "--registry")


# --- item 13: bounded JSON and TOML ---------------------------------------------------------------

DEEP_JSON = "[" * 100_000 + "]" * 100_000  # 200 kB, as in the issue


@pytest.mark.parametrize("verb", ["validate", "info", "list"])
def test_a_deeply_nested_manifest_is_an_invalid_fixture_not_a_traceback(
    tmp_path: Path, verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_fixture(tmp_path / "fx")
    (folder / "manifest.json").write_text(DEEP_JSON)
    code, out, err = cli(capsys, "fixture", verb, str(folder if verb != "list" else tmp_path))
    if verb == "list":  # the listing goes on, the folder shown as invalid
        assert code == 0 and "(invalid manifest)" in out, err
    else:
        assert code == CONFIG and "nested more than 64 levels" in err + out, err


def test_a_manifest_nested_below_the_interpreters_limit_is_refused_too(tmp_path: Path) -> None:
    folder = make_fixture(tmp_path / "fx", features={"a": json.loads("[" * 200 + "]" * 200)})
    manifest, problems = read_manifest(folder)
    assert manifest is None and "nested more than 64 levels" in problems[0]


def test_a_deep_manifest_named_by_a_dat_step_fails_key_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_fixture(tmp_path / "fx")
    (folder / "manifest.json").write_text(DEEP_JSON)
    config = project(tmp_path, '[env.e]\nsetup = [{ dat = "fx" }]\n')
    code, _, err = cli(capsys, "key", "--offline", "-c", config, "e")
    assert code == CONFIG and "nested more than 64 levels" in err


@pytest.mark.parametrize(
    "body",
    ["a = " + "[" * 50_000 + "]" * 50_000 + "\n", "a = " + "{b=" * 5_000 + "1" + "}" * 5_000],
)
def test_a_deeply_nested_configuration_is_exit_2(
    tmp_path: Path, body: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "list", "-c", project(tmp_path, body))
    assert code == CONFIG and "nested more than 32 levels" in err


def test_a_huge_configuration_is_exit_2_without_being_parsed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project(tmp_path, "# " + "x" * (5 * 1024 * 1024) + "\n")
    code, _, err = cli(capsys, "list", "-c", config)
    assert code == CONFIG and "a configuration may have" in err


def test_deep_or_huge_json_in_a_label_or_cache_file_counts_as_unreadable() -> None:
    deep = image("sha256:" + "a" * 64, labels={"org.iris-envs.inputs": DEEP_JSON})
    assert parse_inputs_label(deep) is None  # was a RecursionError
    with pytest.raises(ValueError, match="bytes, more than"):
        bounded.loads("[]" + " " * 100, max_bytes=10)


# --- item 16: smaller ones ------------------------------------------------------------------------


@pytest.mark.parametrize("registry", ["127.0.0.1:99999", "localhost:0", "reg.example:65536/x"])
def test_a_registry_port_out_of_range_is_a_configuration_error(
    tmp_path: Path, registry: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="is not 1-65535"):
        check_registry(registry, "--registry")
    config = project(tmp_path, '[env.e]\n[cache]\nregistry = "' + registry + '"\n')
    assert cli(capsys, "list", "-c", config)[0] == CONFIG


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"fixture_id": "fx\n"}, "fixture_id"),
        ({"schema_version": True}, "schema_version true"),
        (
            {"files": [{"path": "IRIS.DAT", "size": 1, "sha256": "sha256:" + "0" * 64 + "\n"}]},
            "sha256",
        ),
    ],
)
def test_manifest_values_with_a_newline_or_a_bool_version_do_not_validate(
    tmp_path: Path, override: dict[str, Any], problem: str
) -> None:
    manifest, problems = read_manifest(make_fixture(tmp_path / "fx", **override))
    assert manifest is None and any(problem in p for p in problems), problems


@pytest.mark.skipif(not Path("/proc/self/fdinfo").is_dir(), reason="needs Linux /proc")
def test_cache_ls_works_with_a_cache_folder_nothing_can_be_written_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # /proc/self/fdinfo exists and refuses new files even to root (chmod does not stop root).
    monkeypatch.setenv("IRIS_ENVS_CACHE_DIR", "/proc/self/fdinfo")
    engine = Engine()
    engine.add_snapshot("app", "a" * 64, {}, "2026-01-01T00:00:00Z", project=tmp_path)
    monkeypatch.setattr(adapter, "DockerEngine", lambda: engine)
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "cache", "ls")
    ref = naming.snapshot_ref(tmp_path, "app", "a" * 64)
    assert code == 0 and "1 snapshot(s)" in out and ref in out, out + err


@pytest.mark.parametrize("kind", ["junk", "missing", "folder"])
def test_invalid_and_unreadable_archives_share_exit_2(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(adapter, "DockerEngine", Engine)
    path = tmp_path / "a.tar.gz"
    if kind == "junk":
        path.write_bytes(b"not an archive" * 100)
    elif kind == "folder":
        path.mkdir()
    code, _, err = cli(capsys, "cache", "import", str(path))
    assert code == CONFIG, err
    assert ("nothing was imported" in err) or ("cannot read" in err), err
    assert issubclass(ArchiveInvalid, ConfigError)


# --- item 14: one broken environment does not break the others ------------------------------

BROKEN_PROJECT = """
[env.good]
[env.nofile]
setup = [{ sql = "missing.sql" }]
[env.badfx]
setup = [{ dat = "fx" }]
"""


def broken_project(root: Path) -> str:
    folder = make_fixture(root / "fx")
    (folder / "manifest.json").write_text('{"name": "My PWA"}')  # not a fixture manifest
    return project(root, BROKEN_PROJECT)


def test_list_shows_a_broken_environment_with_its_problem_and_lists_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = broken_project(tmp_path)
    code, out, err = cli(capsys, "list", "--json", "-c", config)
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0 and set(rows) == {"good", "nofile", "badfx"}, err
    assert rows["good"]["state"] == "unknown" and rows["good"]["problem"] is None
    assert rows["nofile"]["state"] == "broken" and "missing.sql" in rows["nofile"]["problem"]
    assert rows["badfx"]["state"] == "broken" and "manifest" in rows["badfx"]["problem"]
    code, out, err = cli(capsys, "list", "-c", config)
    assert code == 0 and "good" in out and "nofile cannot be used" in err, err
    assert "badfx cannot be used" in err


def test_the_other_environments_key_and_configure_and_the_broken_one_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = broken_project(tmp_path)
    for verb in (["key", "--offline"], ["config"]):
        code, out, err = cli(capsys, *verb, "-c", config, "good")
        assert code == 0 and out, err
    for env, problem in (("nofile", "missing.sql"), ("badfx", "manifest")):
        code, _, err = cli(capsys, "key", "--offline", "-c", config, env)
        assert code == CONFIG and problem in err, err


def test_run_of_a_broken_environment_is_exit_2_before_any_engine_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")  # exit 4 if asked
    config = broken_project(tmp_path)
    code, _, err = cli(capsys, "run", "-c", config, "-e", "nofile", "--", "true")
    assert code == CONFIG and "missing.sql" in err and "iris-envs list" in err, err


def test_nox_sessions_are_made_for_every_environment_broken_ones_included(tmp_path: Path) -> None:
    from iris_envs.nox import environment_names

    config = broken_project(tmp_path)
    assert environment_names(None, None, config) == ["good", "nofile", "badfx"]


# --- item 15: a bounded, linear matrix ------------------------------------------------------------


def factors(count: int, width: int) -> str:
    return "\n".join(
        f"f{i} = [" + ", ".join(f'"v{j}"' for j in range(width)) + "]" for i in range(count)
    )


def test_a_matrix_of_a_million_combinations_is_refused_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project(tmp_path, "[matrix.m]\n" + factors(20, 2) + "\n")
    started = time.monotonic()
    code, _, err = cli(capsys, "list", "-c", config)
    assert code == CONFIG and "would generate 1,048,576 environments" in err, err
    assert "at most 1,000" in err and time.monotonic() - started < 2


def test_matrices_are_capped_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = "[matrix.a]\n" + factors(3, 8) + "\n[matrix.b]\n" + factors(3, 8) + "\n"
    code, _, err = cli(capsys, "list", "-c", project(tmp_path, body))
    assert code == CONFIG and "would generate 1,024 environments" in err, err


def test_a_thousand_environments_list_in_under_two_seconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a.sql", "SELECT 1")
    config = project(tmp_path, "[matrix.m]\n" + factors(3, 10) + '\nsetup = [{ sql = "a.sql" }]\n')
    cli(capsys, "list", "-c", config)  # warm: imports and the file hash cache
    started = time.monotonic()
    code, out, err = cli(capsys, "list", "-c", config)
    took = time.monotonic() - started
    assert code == 0 and len(out.splitlines()) == 1 + 1000 and took < 2, (took, err)


def test_list_state_asks_the_engine_a_fixed_number_of_times_however_many_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    class Counting(Engine):
        def inspect_image(self, ref: str) -> Any:
            calls.append("inspect")
            return super().inspect_image(ref)

        def images_by_label(self, labels: Mapping[str, str | None]) -> Any:
            calls.append("images")
            return super().images_by_label(labels)

        def platform(self) -> str:
            calls.append("platform")
            return super().platform()

    engine = Counting()
    monkeypatch.setattr(_common, "engine_or_none", lambda args: engine)
    for width in (2, 10):
        calls.clear()
        config = project(tmp_path, "[matrix.m]\n" + factors(3, width) + "\n")
        code, out, err = cli(capsys, "list", "--state", "-c", config)
        assert code == 0 and out.count("missing") == width**3, err
        assert sorted(calls) == ["images", "inspect", "platform"], calls  # was 4 per environment


# --- item 17: a silent engine ---------------------------------------------------------------------


@pytest.fixture
def silent_engine(tmp_path: Path) -> Iterator[tuple[str, list[socket.socket]]]:
    """A Unix socket that accepts connections and never answers; yields DOCKER_HOST and the
    connections accepted so far."""
    path = tmp_path / "silent.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(64)
    accepted: list[socket.socket] = []

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"unix://{path}", accepted
    finally:
        listener.close()
        for connection in accepted:
            connection.close()


def test_list_never_contacts_the_engine(
    tmp_path: Path,
    silent_engine: tuple[str, list[socket.socket]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, accepted = silent_engine
    monkeypatch.setenv("DOCKER_HOST", host)
    started = time.monotonic()
    code, out, err = cli(capsys, "list", "-c", project(tmp_path, "[env.a]\n[env.b]\n"))
    assert code == 0 and "unknown" in out and time.monotonic() - started < 5, err
    assert accepted == []  # not even a connection


def test_a_silent_engine_fails_run_within_seconds_naming_it(
    tmp_path: Path, silent_engine: tuple[str, list[socket.socket]]
) -> None:
    host, accepted = silent_engine
    project(tmp_path, "[env.a]\n")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "iris_envs", "run", "-e", "a", "--", "true"],
        cwd=tmp_path,
        env={**os.environ, "DOCKER_HOST": host, "CI": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    took = time.monotonic() - started
    assert done.returncode == ExitCode.DOCKER_UNAVAILABLE, done.stderr  # was after 301 s
    assert took < 30 and host in done.stderr and "sent no answer" in done.stderr, (took, done)
    assert accepted and "Traceback" not in done.stderr


def test_list_state_with_a_silent_engine_degrades_to_unknown_within_seconds(
    tmp_path: Path,
    silent_engine: tuple[str, list[socket.socket]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host, _ = silent_engine
    monkeypatch.setenv("DOCKER_HOST", host)
    started = time.monotonic()
    code, out, err = cli(capsys, "list", "--state", "-c", project(tmp_path, "[env.a]\n"))
    assert code == 0 and "unknown" in out and "sent no answer" in err, err
    assert time.monotonic() - started < 30


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX paths")
