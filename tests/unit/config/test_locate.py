"""config/locate.py: the line of a TOML file that declares a key path (for GitHub annotations),
and configuration errors that carry it."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from iris_envs.config.load import load_project
from iris_envs.config.locate import Key, decode_error_line, key_line, key_lines, locate
from iris_envs.config.selection import select_envs
from iris_envs.errors import ConfigError, Where

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[3]

SAMPLE = textwrap.dedent(
    """\
    # a comment with [brackets] and key = "value"
    default = ["a"]

    [defaults]
    password = "p#not-a-comment]"
    setup = [
      { sql = "schema.sql" },   # setup[1]
      # a comment between steps
      { objectscript = "load.script", namespace = "USER" },
    ]

    [env."iris-2025.1"]
    image = 'intersystems/iris-community:2025.1'
    description = \"\"\"
    [not.a.header]
    x = 1
    \"\"\"
    env_extra.nested = 1

    [[env.arr.setup]]
    shell = "echo [1]"

    [[env.arr.setup]]
    shell = '''
    exit 3
    '''

    [env.arr.setup.sub]
    k = 2023-01-01 10:00:00
    """
)


def line_of(text: str, key: Key) -> int | None:
    return key_line(text, key)


def test_keys_tables_and_array_elements_are_found_at_their_lines() -> None:
    lines = key_lines(SAMPLE)
    assert lines[("default",)] == 2
    assert lines[("defaults",)] == 4
    assert lines[("defaults", "password")] == 5
    assert lines[("defaults", "setup")] == 6
    assert lines[("defaults", "setup", 1)] == 7
    assert lines[("defaults", "setup", 1, "sql")] == 7
    assert lines[("defaults", "setup", 2)] == 9
    assert lines[("defaults", "setup", 2, "namespace")] == 9
    assert lines[("env", "iris-2025.1")] == 12
    assert lines[("env", "iris-2025.1", "description")] == 14
    assert ("not", "a", "header") not in lines  # inside a multi-line string
    assert lines[("env", "iris-2025.1", "env_extra", "nested")] == 18
    assert lines[("env", "arr", "setup", 1)] == 20
    assert lines[("env", "arr", "setup", 1, "shell")] == 21
    assert lines[("env", "arr", "setup", 2)] == 23
    assert lines[("env", "arr", "setup", 2, "sub", "k")] == 29  # [a.b.sub] after [[a.b]]


def test_a_missing_key_falls_back_to_its_nearest_declared_ancestor() -> None:
    assert line_of(SAMPLE, ("defaults", "setup", 2, "flags")) == 9
    assert line_of(SAMPLE, ("env", "iris-2025.1", "license")) == 12
    assert line_of(SAMPLE, ("nothing", "here")) is None


def _flatten(value: Any, key: Key) -> list[Key]:
    out = [key] if key else []
    if isinstance(value, dict):
        for name, item in value.items():
            out += _flatten(item, (*key, name))
    elif isinstance(value, list):
        for index, item in enumerate(value, 1):
            out += _flatten(item, (*key, index))
    return out


def _toml_texts() -> list[tuple[str, str]]:
    texts = [("SAMPLE", SAMPLE)]
    for path in [
        ROOT / "pyproject.toml",
        *ROOT.glob("examples/**/*.toml"),
        *ROOT.glob(".github/*.toml"),
    ]:
        texts.append((str(path), path.read_text(encoding="utf-8")))
    for doc in sorted((ROOT / "docs").glob("*.md")):
        for i, block in enumerate(re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S)):
            try:
                tomllib.loads(block)
            except tomllib.TOMLDecodeError:
                continue  # a fragment shown on purpose (e.g. an error example)
            texts.append((f"{doc.name}#{i}", block))
    return texts


@pytest.mark.parametrize(("name", "text"), _toml_texts(), ids=lambda v: str(v)[-40:])
def test_every_key_tomllib_reads_is_located_on_a_line_that_names_it(name: str, text: str) -> None:
    lines = key_lines(text)
    source = text.splitlines()
    for key in _flatten(tomllib.loads(text), ()):
        assert key in lines, f"{name}: {key} not located"
        last = next((part for part in reversed(key) if isinstance(part, str)), None)
        if last is not None and not isinstance(key[-1], int):
            assert last in source[lines[key] - 1] or "[" in source[lines[key] - 1], (name, key)


def test_a_configuration_error_carries_the_line_of_the_bad_value(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "x"

            [tool.iris-envs.env.app]
            image = "intersystems/iris-community:2025.1"
            setup = [
              { sql = "schema.sql" },
              { sql = "missing.sql" },
            ]
            """
        )
    )
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (a INT)\n")
    # The environment still loads (issue 22 item 14: other environments stay usable); using it
    # is the error, and it points at the step's line.
    project = load_project(tmp_path / "pyproject.toml")
    with pytest.raises(ConfigError) as caught:
        select_envs(project, ["app"], None)
    where = caught.value.where
    assert where is not None
    assert where.key == ("tool", "iris-envs", "env", "app", "setup", 2, "sql")
    assert locate(where).line == 8


def test_a_toml_syntax_error_carries_its_line(tmp_path: Path) -> None:
    config = tmp_path / "iris-envs.toml"
    config.write_text('[env.app]\nimage = "x"\nbroken = \n')
    with pytest.raises(ConfigError) as caught:
        load_project(config)
    assert caught.value.where == Where(config, (), 3)
    assert decode_error_line("Invalid value (at end of document)") is None


def test_locate_leaves_an_unreadable_file_alone(tmp_path: Path) -> None:
    gone = Where(tmp_path / "gone.toml", ("env", "x"))
    assert locate(gone) == gone
