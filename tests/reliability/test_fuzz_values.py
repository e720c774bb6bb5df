"""1,000 fuzzed fixture manifests and 1,000 fuzzed configurations through the real CLI, with
control characters, trailing newlines, deep nesting and huge sizes: never a traceback, and
every rejection is exit 2 (issue 22, acceptance of "Bad values get one clear error").

In-process and offline: `fixture validate`/`info`, `list` (which never asks the engine) and
`key --offline` need no Docker engine. tests/reliability/test_fuzz_config.py fuzzes the shape
of configurations (wrong types, unknown keys, selections); this file fuzzes their values.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iris_envs.cli import main as cli_main
from iris_envs.cli.main import main
from iris_envs.exit_codes import ExitCode
from iris_envs.fixtures.manifest import MAX_MANIFEST_BYTES
from tests.unit import toml_value

OK, CONFIG = int(ExitCode.OK), int(ExitCode.CONFIG_ERROR)
EXAMPLES = 1000
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# Every C0 control, DEL and a few C1 controls, alone or around text.
CONTROLS = [chr(c) for c in [*range(0x20), 0x7F, 0x80, 0x85, 0x9B, 0x9F]]
controls = st.sampled_from(CONTROLS)
# Values that are valid somewhere, so a trailing newline or control is the only fault.
VALID = [
    "app",
    "USER",
    "%SYS",
    "test",
    "linux/amd64",
    "intersystemsdc/iris-community:2025.1",
    "localhost:5000/a/b:1",
    "fast",
    "zpm",
    "1.0.0",
    "irisowner",
    "root",
    "namespace",
    "globals:Orders*",
    "orders",
    "sha256:" + "0" * 64,
    "2024.1.0.262.0",
    "IRIS.DAT",
]
valid = st.sampled_from(VALID)
printable = st.characters(exclude_categories=("Cs", "Cc"))
clean_text = st.one_of(
    valid,
    st.text(printable, max_size=30),
    st.sampled_from(["", " ", "x" * 5000, "é" * 300, "../../etc/passwd", "$HOME", "$$x"]),
)
dirty_text = st.one_of(
    st.builds(lambda v, c: v + c, valid, controls),  # "app\n", "USER\x00"
    st.builds(lambda c, v: c + v, controls, valid),
    st.builds(lambda v, c, w: v + c + w, valid, controls, valid),
    st.text(max_size=30),  # any text, controls included
    st.text(st.sampled_from(CONTROLS), min_size=1, max_size=5),
)
# Mostly clean, so that a configuration often gets past the control-character check to the
# checks behind it; a control character in any one of its values is still common.
hostile_text = st.integers(0, 7).flatmap(lambda n: dirty_text if n == 7 else clean_text)
SHAPES_TAIL = ["junk", "junk", "top", "top", "huge"]
DEPTHS = [2, 31, 32, 33, 63, 64, 65, 200, 1_000, 100_000]
depths = st.sampled_from(DEPTHS)


def deep_json(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def deep_toml(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return "{a = " * depth + "1" + "}" * depth


@pytest.fixture(autouse=True)
def cache_folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="fuzz-cache-") as folder:
        monkeypatch.setenv("IRIS_ENVS_CACHE_DIR", folder)
        yield


@pytest.fixture(autouse=True)
def one_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build the CLI's parser once: building it is most of an in-process call's ~60 ms, and a
    process only ever builds one."""
    parser = cli_main.build_parser()
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    """The CLI's exit code and stdout; a traceback or an undocumented code fails the test."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse usage errors are exit 2 too
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert code in (OK, CONFIG), (code, err[-2000:])
    if code:
        # One clear error (after any progress lines), not a traceback or a bare message.
        assert "iris-envs: error: " in err or err.startswith("usage: iris-envs"), err[-2000:]
    return code, out


# --- manifests ------------------------------------------------------------------------------------

DATA = b"IRIS.DAT fuzz\n" * 64


def base_manifest() -> dict[str, Any]:
    return {
        "schema_version": 1,
        "fixture_id": "orders",
        "version": "1",
        "description": "orders",
        "created_at": "2026-11-22T12:00:00Z",
        "iris_version": "2024.1.0.262.0",
        "source_namespace": "APP",
        "source_database": "ORDERS",
        "files": [
            {
                "path": "IRIS.DAT",
                "size": len(DATA),
                "sha256": "sha256:" + hashlib.sha256(DATA).hexdigest(),
            }
        ],
        "tables": [{"name": "App.Orders", "row_count": 3}],
        "features": {"unicode": True},
    }


FIELDS = list(base_manifest())
json_scalar = st.one_of(
    hostile_text,
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)
file_entry = st.fixed_dictionaries(
    {},
    optional={"path": hostile_text, "size": json_scalar, "sha256": hostile_text, "x": json_value},
)


@st.composite
def manifest_texts(draw: st.DrawFn) -> str | bytes:
    """A manifest.json: a good one with fields replaced, one nested deep, a huge one, or junk."""
    # Huge ones are few (each is megabytes to write and read), the cheap shapes many.
    shape = draw(st.sampled_from(["fields"] * 6 + ["files"] * 4 + ["deep"] * 4 + SHAPES_TAIL))
    manifest = base_manifest()
    if shape == "fields":
        for name in draw(st.lists(st.sampled_from([*FIELDS, "unknown"]), min_size=1, max_size=4)):
            manifest[name] = draw(json_value)
        return json.dumps(manifest)
    if shape == "files":
        manifest["files"] = draw(st.lists(file_entry, max_size=3))
        return json.dumps(manifest)
    if shape == "deep":
        field = draw(st.sampled_from(FIELDS))
        deep = deep_json(draw(depths), draw(st.sampled_from(["array", "object"])))
        text = json.dumps({k: v for k, v in manifest.items() if k != field})
        return text[:-1] + f', "{field}": {deep}' + "}"
    if shape == "huge":
        # Just over the bound (refused unread), or a huge value or padding within it.
        size = draw(st.sampled_from([MAX_MANIFEST_BYTES + 1, MAX_MANIFEST_BYTES - 4096, 1 << 20]))
        padded = draw(st.booleans())
        if not padded:
            manifest["description"] = "x" * size
        return json.dumps(manifest) + (" " * size if padded else "")
    if shape == "junk":
        return draw(st.binary(max_size=200))
    return json.dumps(draw(json_value))  # "top": a top level that is no object


@SETTINGS
@given(text=manifest_texts(), verb=st.sampled_from(["validate", "info", "key"]))
def test_fuzzed_manifests_are_valid_or_exit_2_never_a_traceback(
    text: str | bytes, verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # One folder for every example (the manifest is rewritten): a thousand folders made and
    # removed cost more than the CLI calls.
    folder = tmp_path / "fx"
    folder.mkdir(exist_ok=True)
    (folder / "IRIS.DAT").write_bytes(DATA)
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    (folder / "manifest.json").write_bytes(raw)
    if verb == "key":  # a dat step names the fixture: the manifest is part of the key
        config = tmp_path / "iris-envs.toml"
        config.write_text('[env.e]\nsetup = [{ dat = "fx" }]\n', encoding="utf-8")
        run(capsys, ["key", "--offline", "-c", str(config), "e"])
    else:
        run(capsys, ["fixture", verb, str(folder)])


# --- configurations -------------------------------------------------------------------------------

FIELD_NAMES = [
    "image",
    "namespace",
    "username",
    "password",
    "description",
    "platform",
    "edition",
    "license",
    "cpf_merge",
]
step_kinds = st.sampled_from(["objectscript", "sql", "ipm", "shell", "load", "dat", "globals"])
step = st.builds(
    lambda kind, value, extra: {kind: value, **extra},
    step_kinds,
    hostile_text,
    st.dictionaries(
        st.sampled_from(["namespace", "version", "user", "mount", "database", "dialect"]),
        hostile_text,
        max_size=2,
    ),
)
env_body = st.fixed_dictionaries(
    {},
    optional={
        **{name: hostile_text for name in FIELD_NAMES},
        "tags": st.lists(hostile_text, max_size=3),
        "labels": st.dictionaries(hostile_text, hostile_text, max_size=2),
        "setup": st.lists(step, max_size=3),
    },
)
env_names = st.one_of(valid, hostile_text, st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True))


@st.composite
def config_texts(draw: st.DrawFn) -> str | bytes:
    """An iris-envs.toml: hostile values, deep nesting, a huge file, or junk."""
    shape = draw(st.sampled_from(["values"] * 10 + ["matrix"] * 4 + ["deep"] * 4 + SHAPES_TAIL))
    if shape == "values":
        envs = draw(st.dictionaries(env_names, env_body, min_size=1, max_size=3))
        doc: dict[str, Any] = {"env": envs}
        if draw(st.booleans()):
            doc["cache"] = {"registry": draw(hostile_text)}
        if draw(st.booleans()):
            doc["default"] = draw(st.lists(env_names, max_size=2))
        return "\n".join(f"{toml_value(k)} = {toml_value(v)}" for k, v in doc.items()) + "\n"
    if shape == "matrix":
        factors = draw(
            st.dictionaries(
                st.sampled_from(["version", "variant", "image", "edition"]),
                st.lists(hostile_text, min_size=1, max_size=3),
                min_size=1,
                max_size=3,
            )
        )
        return f"[matrix.{toml_value(draw(env_names))}]\n" + "".join(
            f"{k} = {toml_value(v)}\n" for k, v in factors.items()
        )
    if shape == "deep":
        where = draw(st.sampled_from(["a = ", "[env.e]\nlabels = ", "[env.e]\nsetup = "]))
        kind = draw(st.sampled_from(["array", "table"]))
        return where + deep_toml(draw(depths), kind) + "\n"
    if shape == "huge":
        size = draw(st.sampled_from([4 * 1024 * 1024 + 1, 3 * 1024 * 1024, 1 << 20]))
        body = "#" + "x" * size if draw(st.booleans()) else f'description = "{"x" * size}"'
        return "[env.e]\n" + body + "\n"
    if shape == "top":  # hostile keys and values at the top level and in [cache]
        table = draw(st.dictionaries(hostile_text, hostile_text | st.integers(), max_size=3))
        return "".join(f"{toml_value(k)} = {toml_value(v)}\n" for k, v in table.items()) + (
            f"[cache]\nmax-size = {toml_value(draw(hostile_text))}\n"
        )
    return draw(st.binary(max_size=200))


@SETTINGS
@given(text=config_texts())
def test_fuzzed_configurations_list_and_key_or_exit_2_never_a_traceback(
    text: str | bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "iris-envs.toml"  # one folder for every example, as for manifests
    config.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    code, out = run(capsys, ["list", "--json", "-c", str(config)])
    if code != OK:
        return
    names = [row["name"] for row in json.loads(out)]
    # The first environment (the others are alike): keyed offline, or exit 2 (a setup file
    # that does not exist is that environment's problem, reported when it is used).
    run(capsys, ["key", "--offline", "-c", str(config), names[0]])
