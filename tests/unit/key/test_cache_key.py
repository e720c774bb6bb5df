"""The cache key: stable under TOML order and re-runs, sensitive to exactly the snapshot inputs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iris_envs.cache.hashing import HashCache
from iris_envs.config.load import load_project
from iris_envs.config.spec import EnvSpec
from iris_envs.key.cache_key import (
    RECIPE_VERSION,
    BaseImage,
    compute_key,
    key_inputs,
    password_hash,
    resolve_base_image,
)
from tests.unit import FakeEngine, image, toml_value, write

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    # The autouse cache-folder fixture is shared by all examples: fine, keys are content-based.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
BASE = BaseImage("intersystemsdc/iris-community:2025.1", "sha256:" + "a" * 64)
PLATFORM = "linux/amd64"

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)
# Control characters are refused in every name and secret (issue 22, item 11).
passwords = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1)
free_chars = st.characters(exclude_categories=("Cs", "Cc"), include_characters="\t\n")


_ROOTS: list[Path] = []


@pytest.fixture(autouse=True, scope="module")
def _project_parent(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One pytest-managed folder for every generated project (pytest prunes old ones)."""
    _ROOTS.append(tmp_path_factory.mktemp("keyprops"))


def make_project(fields: dict[str, object], order: list[int], files: dict[str, bytes]) -> EnvSpec:
    """Write a project with ``fields`` in the given key order and load its one env."""
    root = Path(tempfile.mkdtemp(prefix="p", dir=_ROOTS[-1]))
    for name, content in files.items():
        write(root / name, content)
    keys = list(fields)
    lines = ["[env.e]"] + [f"{keys[i]} = {toml_value(fields[keys[i]])}" for i in order]
    write(root / "iris-envs.toml", "\n".join(lines) + "\n")
    return load_project(cwd=root).envs["e"]


def strings_in(value: object) -> list[str]:
    """Every string anywhere in a JSON-like value (keys included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings_in(v)]]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def key_of(spec: EnvSpec, base: BaseImage = BASE) -> str:
    return compute_key(spec, base, PLATFORM, HashCache(None)).key


FILES = {"a.sql": b"CREATE TABLE a (x INT)", "src/A.cls": b"Class A {}", "g.gof": b"gof"}
SETUP = [{"sql": "a.sql"}, {"load": "src"}, {"globals": "g.gof", "namespace": "%SYS"}]


@SETTINGS
@given(
    namespace=names,
    username=names,
    password=passwords,
    description=st.text(free_chars, max_size=20),
    order=st.permutations(range(6)),
)
def test_key_is_stable_under_toml_key_order_and_reruns(
    namespace: str, username: str, password: str, description: str, order: list[int]
) -> None:
    fields: dict[str, object] = {
        "namespace": namespace,
        "username": username,
        "password": "$$" + password if password.startswith("$") else password,
        "description": description,
        "setup": SETUP,
        "image": BASE.ref,
    }
    a = make_project(fields, list(range(6)), FILES)
    b = make_project(fields, order, FILES)
    assert key_of(a) == key_of(b) == key_of(b)
    assert len(key_of(a)) == 64 and int(key_of(a), 16) >= 0


@SETTINGS
@given(data=st.binary(min_size=1, max_size=64), position=st.integers(0, 63), bit=st.integers(0, 7))
def test_one_byte_of_a_fixture_changes_the_key(data: bytes, position: int, bit: int) -> None:
    position %= len(data)
    flipped = bytearray(data)
    flipped[position] ^= 1 << bit
    fields: dict[str, object] = {"password": "pw", "setup": [{"dat": "fx"}, {"load": "src"}]}
    before = make_project(fields, [0, 1], {"fx/IRIS.DAT": data, "src/deep/A.cls": data})
    after_dat = make_project(
        fields, [0, 1], {"fx/IRIS.DAT": bytes(flipped), "src/deep/A.cls": data}
    )
    after_src = make_project(
        fields, [0, 1], {"fx/IRIS.DAT": data, "src/deep/A.cls": bytes(flipped)}
    )
    assert len({key_of(before), key_of(after_dat), key_of(after_src)}) == 3


@SETTINGS
@given(order=st.permutations(range(3)))
def test_setup_order_changes_the_key(order: list[int]) -> None:
    base = make_project({"password": "pw", "setup": SETUP}, [0, 1], FILES)
    moved = make_project({"password": "pw", "setup": [SETUP[i] for i in order]}, [0, 1], FILES)
    assert (key_of(base) == key_of(moved)) == (list(order) == [0, 1, 2])


@SETTINGS
@given(a=st.binary(min_size=32, max_size=32), b=st.binary(min_size=32, max_size=32))
def test_base_image_id_changes_the_key(a: bytes, b: bytes) -> None:
    spec = EnvSpec("e", password="pw")
    key_a = key_of(spec, BaseImage(BASE.ref, "sha256:" + a.hex()))
    key_b = key_of(spec, BaseImage(BASE.ref, "sha256:" + b.hex()))
    assert (key_a == key_b) == (a == b)


@SETTINGS
@given(a=passwords, b=passwords)
def test_password_changes_the_key_and_never_appears(a: str, b: str) -> None:
    spec_a, spec_b = EnvSpec("e", password=a), EnvSpec("e", password=b)
    assert (key_of(spec_a) == key_of(spec_b)) == (a == b)
    inputs = compute_key(spec_a, BASE, PLATFORM, HashCache(None)).inputs
    assert inputs["password"] == password_hash(a)
    # The password may coincide with another input (e.g. "USER"); it must never add a string.
    neutral = compute_key(EnvSpec("e", password="-"), BASE, PLATFORM, HashCache(None)).inputs
    assert a not in strings_in(inputs) or a in strings_in(neutral)


@SETTINGS
@given(
    description=st.text(free_chars, max_size=30),
    tags=st.lists(names, max_size=3),
    timeout=st.floats(1, 1e6),
    labels=st.dictionaries(names, st.text(free_chars, max_size=5), max_size=3),
)
def test_run_only_fields_do_not_change_the_key(
    description: str, tags: list[str], timeout: float, labels: dict[str, str]
) -> None:
    plain = make_project({"password": "pw"}, [0], {})
    dressed = make_project(
        {
            "password": "pw",
            "description": description,
            "tags": tags,
            "ready_timeout": timeout,
            "labels": labels,
        },
        [0, 1, 2, 3, 4],
        {},
    )
    assert key_of(plain) == key_of(dressed)


def test_license_is_not_part_of_the_key(tmp_path: Path) -> None:
    a = make_project({"password": "p", "edition": "enterprise", "license": "a.key"}, [0, 1, 2], {})
    b = make_project({"password": "p", "edition": "enterprise", "license": "b.key"}, [0, 1, 2], {})
    assert key_of(a) == key_of(b)
    assert "license" not in json.dumps(compute_key(a, BASE, PLATFORM).inputs)


def test_inputs_shape_and_key_is_sha256_of_canonical_inputs() -> None:
    import hashlib

    spec = make_project({"password": "pw", "setup": SETUP}, [0, 1], FILES)
    result = compute_key(spec, BASE, PLATFORM)
    canonical = json.dumps(result.inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert result.key == hashlib.sha256(canonical.encode()).hexdigest()
    assert result.inputs_json() == canonical
    inputs = result.inputs
    assert inputs["recipe"] == RECIPE_VERSION and inputs["password"] == password_hash("pw")
    assert inputs["base_image"] == {"ref": BASE.ref, "id": BASE.image_id}
    assert inputs["setup"][1]["content"]["type"] == "dir"
    assert inputs["setup"][2]["namespace"] == "%SYS"


def test_resolve_base_image() -> None:
    engine = FakeEngine([image("sha256:" + "b" * 64, (BASE.ref,))])
    assert resolve_base_image(engine, BASE.ref) == BaseImage(BASE.ref, "sha256:" + "b" * 64, "")
    absent = resolve_base_image(engine, "other:1")
    assert absent.image_id is None and "keyed by tag" in absent.note
    offline = resolve_base_image(None, BASE.ref)
    assert offline.image_id is None and offline.note.startswith("offline")
    spec = EnvSpec("e", password="pw")
    assert key_inputs(spec, offline, PLATFORM)["base_image"]["keyed_by"] == "tag"
    assert key_of(spec, offline) != key_of(spec, BASE)


def test_warm_key_uses_the_stat_cache(tmp_path: Path) -> None:
    spec = make_project({"password": "pw", "setup": SETUP}, [0, 1], FILES)
    first = compute_key(spec, BASE, PLATFORM)  # default cache: saved to the cache folder
    assert compute_key(spec, BASE, PLATFORM).key == first.key
