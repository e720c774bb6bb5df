"""The list/config/key/explain/schema commands in-process, and fuzzed configurations."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from iris_envs.cli import _common
from iris_envs.cli import main as cli
from iris_envs.config.load import load_project
from iris_envs.config.values import ENV_FIELDS, STEP_KINDS, TOP_LEVEL_KEYS
from iris_envs.errors import DockerUnavailable
from iris_envs.key.cache_key import compute_key, resolve_base_image
from tests.unit import FakeEngine, image, toml_value, write

REF = "intersystemsdc/iris-community:2025.1"
BASE_ID = "sha256:" + "c" * 64
CONFIG = f"""
default = ["app"]
[env.app]
image = "{REF}"
password = "s3cret-pw"
description = "the app"
tags = ["fast"]
setup = [{{sql = "schema.sql"}}]
[env.other]
image = "{REF}"
"""


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine([image(BASE_ID, (REF,))])
    monkeypatch.setattr(_common, "engine_or_none", lambda args: None if args.offline else fake)
    return fake


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path / "schema.sql", "CREATE TABLE a (x INT)")
    write(tmp_path / "iris-envs.toml", CONFIG)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def key_of(root: Path, name: str, engine: FakeEngine | None) -> Any:
    spec = load_project(cwd=root).envs[name]
    return compute_key(spec, resolve_base_image(engine, spec.image), "linux/amd64")


def test_key(project: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "key", "app")
    assert code == 0 and out.strip() == key_of(project, "app", engine).key and err == ""
    code, out, err = run(capsys, "key")  # the default list names exactly one env
    assert code == 0 and out.strip() == key_of(project, "app", engine).key


def test_key_offline_notes_tag_fallback(
    project: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "key", "app", "--offline")
    assert code == 0 and len(out.strip()) == 64 and "offline: keyed by tag" in err
    code, out, _ = run(capsys, "key", "app", "--inputs")
    assert json.loads(out)["base_image"]["id"] == BASE_ID
    assert "s3cret-pw" not in out


def test_unknown_env_exit_3(
    project: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "key", "ap")
    assert code == 3 and "app, other" in err and "did you mean 'app'" in err


def test_config_redacts(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "config", "app")
    assert code == 0 and "s3cret-pw" not in out and "********" in out
    assert "setup[1]" in out and "sql schema.sql" in out
    code, out, _ = run(capsys, "config", "other", "--json")
    data = json.loads(out)
    assert code == 0 and data["password"] == "<default>" and data["name"] == "other"


def test_list(project: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    app = key_of(project, "app", engine)
    engine.add_snapshot("app", app.key, app.inputs, "2026-01-01T00:00:00Z", project=project)
    engine.add_snapshot("other", "0" * 64, {}, "2026-01-01T00:00:00Z", project=project)
    code, out, _ = run(capsys, "list", "--state", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["app"]["state"] == "built" and rows["other"]["state"] == "stale"
    assert rows["app"]["default"] and rows["app"]["tags"] == ["fast"]
    code, out, _ = run(capsys, "list", "--state", "-m", "fast")
    assert "* app" in out and "built" in out and "other" not in out


def test_list_degrades_without_engine(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Down(FakeEngine):
        def inspect_image(self, ref: str) -> Any:
            raise DockerUnavailable("cannot connect")

    monkeypatch.setattr(_common, "engine_or_none", lambda args: None if args.offline else Down())
    code, out, err = run(capsys, "list", "--state")
    assert code == 0 and "unknown" in out and "Docker engine unavailable" in err
    code, out, err = run(capsys, "list", "--state", "--offline")
    assert code == 0 and "--offline" in err


def test_key_propagates_docker_unavailable(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Down(FakeEngine):
        def inspect_image(self, ref: str) -> Any:
            raise DockerUnavailable("cannot connect")

    monkeypatch.setattr(_common, "engine_or_none", lambda args: Down())
    assert run(capsys, "key", "app")[0] == 4


def test_explain(project: Path, engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "app")
    assert code == 0 and out.startswith("no snapshot of app yet")
    old = key_of(project, "app", engine)
    engine.add_snapshot("app", old.key, old.inputs, "2026-01-01T00:00:00Z", project=project)
    code, out, _ = run(capsys, "explain", "app")
    assert code == 0 and "up to date" in out
    write(project / "schema.sql", "CREATE TABLE a (y INT)")
    code, out, _ = run(capsys, "explain", "app")
    assert code == 0 and "  - setup[1] sql schema.sql: content changed" in out
    assert run(capsys, "explain", "app", "--offline")[0] == 2


def test_schema_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0 and json.loads(out)["title"] == "iris-envs configuration"


# ----------------------------------------------------------------------------- fuzzing

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.text(max_size=12)
    | st.sampled_from(
        ["community", "enterprise", "USER", "a.sql", "$HOME", "../x", "", "linux/amd64"]
    )
    | st.integers(-3, 10**6)
    | st.floats(allow_nan=False)
    | st.booleans()
)
keys = st.sampled_from(
    [*ENV_FIELDS, *STEP_KINDS, *TOP_LEVEL_KEYS, "version", "exclude", "flags"]
) | st.text(min_size=1, max_size=6)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
documents = st.dictionaries(
    st.sampled_from(TOP_LEVEL_KEYS) | keys,
    st.dictionaries(
        st.text(min_size=1, max_size=8) | st.sampled_from(["e", "iris"]),
        st.dictionaries(keys, values, max_size=5),
        max_size=2,
    )
    | values,
    max_size=4,
)


def check_cli_on(text: str | bytes, capsys: pytest.CaptureFixture[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        path = write(Path(folder) / "iris-envs.toml", text)
        for argv in (
            ["list", "--offline", "-c", str(path)],
            ["config", "-c", str(path), "--json"],
        ):
            code, _, err = run(capsys, *argv)
            assert code in (0, 2, 3), err
            if code:
                assert err.startswith("iris-envs: error: ") and "Traceback" not in err


@FUZZ
@given(text=st.text(max_size=200))
def test_fuzzed_text_never_tracebacks(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    check_cli_on(text, capsys)


@FUZZ
@given(doc=documents)
@example(doc={"env": {"0": {"edition": []}}})  # found by a long run: unhashable in a set test
def test_fuzzed_structures_never_traceback(
    doc: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    text = "\n".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in doc.items())
    check_cli_on(text, capsys)


@pytest.mark.parametrize(
    "text",
    ["[env.a]\nimage = \n", "a = 1\na = 2\n", "[env]\n[env]\n", 'x = """', "\x00", "[[env]]\n"],
)
def test_malformed_toml_exit_2_with_position(
    text: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path / "iris-envs.toml", text)
    code, _, err = run(capsys, "config", "-c", str(path))
    assert code == 2 and str(path) in err
    if "[[env]]" not in text:
        assert ("line" in err and "column" in err) or "end of document" in err
