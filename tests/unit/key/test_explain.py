"""`explain` names the exact input that changed, and cache state comes from image labels."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from iris_envs import naming
from iris_envs.config.load import load_project
from iris_envs.config.spec import EnvSpec
from iris_envs.key.cache_key import BaseImage, compute_key
from iris_envs.key.explain import (
    BUILT,
    MISSING,
    STALE,
    cache_state,
    describe_changes,
    newest_snapshot,
    parse_inputs_label,
)
from tests.unit import FakeEngine, image, write

ID1 = "sha256:" + "1" * 64
ID2 = "sha256:" + "2" * 64
REF = "intersystemsdc/iris-community:2025.1"
CONFIG = """
[env.app]
image = "intersystemsdc/iris-community:2025.1"
password = "pw"
namespace = "USER"
cpf_merge = "merge.cpf"
setup = [{load = "src"}, {sql = "sql/schema.sql"}, {globals = "data.gof"}]
"""


def write_project(root: Path, config: str = CONFIG) -> None:
    write(root / "src" / "A.cls", "Class A {}")
    write(root / "sql" / "schema.sql", "CREATE TABLE a (x INT)")
    write(root / "data.gof", "gof")
    write(root / "merge.cpf", "[Actions]")
    write(root / "iris-envs.toml", config)


def inputs(root: Path, image_id: str = ID1) -> dict[str, Any]:
    spec = load_project(cwd=root).envs["app"]
    return compute_key(spec, BaseImage(spec.image, image_id), "linux/amd64").inputs


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_project(tmp_path)
    return tmp_path


def test_equal_inputs_have_no_changes(root: Path) -> None:
    assert describe_changes(inputs(root), inputs(root)) == []


def test_file_content(root: Path) -> None:
    old = inputs(root)
    write(root / "sql" / "schema.sql", "CREATE TABLE a (y INT)")
    assert describe_changes(old, inputs(root)) == ["setup[2] sql sql/schema.sql: content changed"]


def test_directory_content_counts_files(root: Path) -> None:
    old = inputs(root)
    write(root / "src" / "B.cls", "Class B {}")
    assert describe_changes(old, inputs(root)) == [
        "setup[1] load src: content changed (1 -> 2 files)"
    ]


def test_cpf_merge_content(root: Path) -> None:
    old = inputs(root)
    write(root / "merge.cpf", "[Actions]\nCreateDatabase:Name=X")
    assert describe_changes(old, inputs(root)) == ["cpf_merge merge.cpf: content changed"]


def test_base_image_moved(root: Path) -> None:
    assert describe_changes(inputs(root, ID1), inputs(root, ID2)) == [
        f"base image {REF} now points to {ID2} (was {ID1})"
    ]


def test_base_image_ref_and_tag_fallback(root: Path) -> None:
    old = inputs(root)
    write(root / "iris-envs.toml", CONFIG.replace("2025.1", "2024.1"))
    new = inputs(root)
    assert describe_changes(old, new) == [f"base image: {REF} -> {REF.replace('2025.1', '2024.1')}"]
    offline = copy.deepcopy(old)
    offline["base_image"] = {"ref": REF, "id": None, "keyed_by": "tag"}
    assert "keyed by tag" in describe_changes(old, offline)[0]


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (('namespace = "USER"', 'namespace = "APP"'), "namespace: USER -> APP"),
        (('password = "pw"', 'password = "pw2"'), "password changed"),
        (('password = "pw"', 'password = "pw"\nusername = "bob"'), "username: test -> bob"),
        (
            ('password = "pw"', 'password = "pw"\nedition = "enterprise"'),
            "edition: community -> enterprise",
        ),
        (
            ('password = "pw"', 'password = "pw"\nplatform = "linux/arm64"'),
            "platform: linux/amd64 -> linux/arm64",
        ),
        (
            ('{load = "src"}', '{load = "src", flags = "cuk"}'),
            "setup[1] load src: option flags ck -> cuk",
        ),
        (
            ('{globals = "data.gof"}', '{globals = "data.gof", namespace = "%SYS"}'),
            "setup[3] globals data.gof: namespace (none) -> %SYS",
        ),
        (
            ('{globals = "data.gof"}', '{globals = "data.gof"}, {ipm = "webterminal"}'),
            "setup[4] ipm webterminal: added",
        ),
        ((', {globals = "data.gof"}', ""), "setup[3] globals data.gof: removed"),
        (('cpf_merge = "merge.cpf"\n', ""), "cpf_merge merge.cpf: removed"),
    ],
)
def test_each_field(root: Path, replace: tuple[str, str], expected: str) -> None:
    old = inputs(root)
    assert replace[0] in CONFIG
    write(root / "iris-envs.toml", CONFIG.replace(*replace))
    new = inputs(root)
    if expected.startswith("platform"):
        spec = load_project(cwd=root).envs["app"]
        new = compute_key(spec, BaseImage(REF, ID1), spec.platform or "").inputs
    assert describe_changes(old, new) == [expected]


def test_setup_order(root: Path) -> None:
    old = inputs(root)
    write(
        root / "iris-envs.toml",
        CONFIG.replace(
            '{load = "src"}, {sql = "sql/schema.sql"}', '{sql = "sql/schema.sql"}, {load = "src"}'
        ),
    )
    (line,) = describe_changes(old, inputs(root))
    assert line == (
        "setup order changed: [load src, sql sql/schema.sql, globals data.gof] -> "
        "[sql sql/schema.sql, load src, globals data.gof]"
    )


def test_recipe_version_and_unknown_keys() -> None:
    lines = describe_changes({"recipe": 1, "x": [1]}, {"recipe": 2, "x": [2]})
    assert lines[0].startswith("recipe version: 1 -> 2") and lines[1] == "x: [1] -> [2]"


def test_garbage_old_inputs_never_crash(root: Path) -> None:
    new = inputs(root)
    for old in ({"setup": "x", "base_image": 3, "cpf_merge": 1}, {"setup": [1, {"kind": 2}]}, {}):
        assert describe_changes(old, new)


def test_cache_state_and_newest_snapshot(root: Path) -> None:
    spec = load_project(cwd=root).envs["app"]
    result = compute_key(spec, BaseImage(REF, ID1), "linux/amd64")
    engine = FakeEngine()
    assert cache_state(engine, spec, result.key) == MISSING
    assert newest_snapshot(engine, spec) is None
    # Another project's snapshot of an environment with the same name is not this one's.
    elsewhere = root.parent / "elsewhere"
    engine.add_snapshot("app", "c" * 64, {"recipe": 9}, "2026-03-01T00:00:00Z", project=elsewhere)
    assert cache_state(engine, spec, result.key) == MISSING
    assert newest_snapshot(engine, spec) is None
    engine.add_snapshot("app", "e" * 64, {"recipe": 0}, "2026-01-02T00:00:00Z", project=root)
    engine.add_snapshot("app", "d" * 64, result.inputs, "2026-01-03T00:00:00Z", project=root)
    engine.add_snapshot("other", "f" * 64, {}, "2026-02-01T00:00:00Z", project=root)
    assert cache_state(engine, spec, result.key) == STALE
    newest = newest_snapshot(engine, spec)
    assert newest is not None and newest.labels[naming.LABEL_KEY] == "d" * 64
    assert parse_inputs_label(newest) == result.inputs
    engine.add_snapshot("app", result.key, result.inputs, "2026-01-01T00:00:00Z", project=root)
    assert cache_state(engine, spec, result.key) == BUILT


def test_parse_inputs_label_tolerates_garbage() -> None:
    assert parse_inputs_label(image("x")) is None
    assert parse_inputs_label(image("x", labels={naming.LABEL_INPUTS: "{bad"})) is None
    assert parse_inputs_label(image("x", labels={naming.LABEL_INPUTS: "[1]"})) is None


def test_password_never_in_lines() -> None:
    spec_a, spec_b = EnvSpec("e", password="hunter2-secret"), EnvSpec("e", password="other")
    base = BaseImage(REF, ID1)
    lines = describe_changes(
        compute_key(spec_a, base, "p").inputs, compute_key(spec_b, base, "p").inputs
    )
    assert lines == ["password changed"]


def test_a_changed_folder_names_its_changed_added_and_removed_files(root: Path) -> None:
    """Issue 23 item 5: `explain` names the file inside a changed folder, not only the folder."""
    from iris_envs.key.cache_key import input_files

    spec = load_project(cwd=root).envs["app"]
    before, old_files = inputs(root), input_files(spec)
    write(root / "src" / "A.cls", "Class A { }")
    write(root / "src" / "Deep" / "B.cls", "Class Deep.B {}")
    after, new_files = inputs(root), input_files(spec)
    assert old_files == {"load src": {"A.cls": old_files["load src"]["A.cls"]}}
    assert describe_changes(before, after, old_files, new_files) == [
        "setup[1] load src: A.cls changed, Deep/B.cls added"
    ]
    # A snapshot built before the listing existed: the folder as before.
    assert describe_changes(before, after, {}, new_files) == [
        "setup[1] load src: content changed (1 -> 2 files)"
    ]
    many = {f"f{i}.cls": "x" for i in range(8)}
    line = describe_changes(before, after, {"load src": {}}, {"load src": many})
    assert line == ["setup[1] load src: content changed (1 -> 2 files)"]  # empty side: unlisted
    line = describe_changes(before, after, {"load src": {"f0.cls": "y"}}, {"load src": many})
    assert line == [
        "setup[1] load src: f0.cls changed, f1.cls added, f2.cls added, f3.cls added, "
        "f4.cls added and 3 more"
    ]
