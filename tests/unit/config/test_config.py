"""Configuration discovery, matrix expansion, field validation and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from iris_envs import naming
from iris_envs.config.load import load_project
from iris_envs.config.secrets import DEFAULT_PASSWORD
from iris_envs.config.selection import select_envs
from iris_envs.config.spec import DEFAULT_IMAGE, Edition, StepKind
from iris_envs.errors import ConfigError
from tests.unit import POSIX_ONLY, write


def project(tmp_path: Path, body: str, name: str = "iris-envs.toml") -> Path:
    return write(tmp_path / name, body)


def error_of(tmp_path: Path, body: str, name: str = "iris-envs.toml") -> str:
    path = project(tmp_path, body, name)
    with pytest.raises(ConfigError) as info:
        # A missing input file is the environment's problem, reported when it is selected.
        select_envs(load_project(cwd=path.parent), None, None)
    return str(info.value)


def test_zero_config_gives_one_default_community_env(tmp_path: Path) -> None:
    loaded = load_project(cwd=tmp_path)
    assert list(loaded.envs) == ["default"]
    spec = loaded.envs["default"]
    assert (spec.image, spec.namespace, spec.edition) == (DEFAULT_IMAGE, "USER", Edition.COMMUNITY)
    assert spec.password_generated and spec.password
    assert loaded.root == tmp_path and loaded.config_file is None and loaded.default == ("default",)


def test_omitted_password_is_the_documented_default_in_every_folder(
    tmp_path: Path, isolated_cache: Path
) -> None:
    first = load_project(cwd=tmp_path).envs["default"]
    other = tmp_path / "other"
    other.mkdir()
    second = load_project(cwd=other).envs["default"]
    # Keys travel: the same password (so the same key) in every checkout and on every machine.
    assert first.password == second.password == DEFAULT_PASSWORD
    assert not (isolated_cache / "secrets").exists()  # nothing stored, nothing to lose


def test_discovery_walks_up_and_prefers_iris_envs_toml(tmp_path: Path) -> None:
    project(tmp_path, '[tool.iris-envs.env.py]\nimage = "a:1"\n', "pyproject.toml")
    sub = tmp_path / "pkg" / "deep"
    sub.mkdir(parents=True)
    assert list(load_project(cwd=sub).envs) == ["py"]
    project(tmp_path, '[env.own]\nimage = "b:1"\n')
    loaded = load_project(cwd=sub)
    assert list(loaded.envs) == ["own"]
    assert loaded.config_file == tmp_path / "iris-envs.toml"


def test_pyproject_without_table_is_skipped(tmp_path: Path) -> None:
    project(tmp_path, '[env.top]\nimage = "a:1"\n')
    inner = tmp_path / "inner"
    project(inner, '[project]\nname = "x"\n', "pyproject.toml")
    assert list(load_project(cwd=inner).envs) == ["top"]


def test_explicit_config_file(tmp_path: Path) -> None:
    path = project(tmp_path, '[env.x]\nimage = "a:1"\n', "ci.toml")
    assert list(load_project(path, cwd=tmp_path / "elsewhere").envs) == ["x"]
    with pytest.raises(ConfigError, match="not found"):
        load_project(tmp_path / "nope.toml")
    bare = project(tmp_path / "p", '[project]\nname = "x"\n', "pyproject.toml")
    with pytest.raises(ConfigError, match=r"no \[tool.iris-envs\] table"):
        load_project(bare)


def test_defaults_only_customises_the_default_env(tmp_path: Path) -> None:
    project(tmp_path, '[defaults]\nimage = "a:1"\nnamespace = "app"\n')
    spec = load_project(cwd=tmp_path).envs["default"]
    assert (spec.image, spec.namespace) == ("a:1", "APP")


def test_full_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "sql" / "schema.sql", "CREATE TABLE t (a INT)")
    write(tmp_path / "src" / "A.cls", "Class A {}")
    write(tmp_path / "fixtures" / "appdb" / "IRIS.DAT", b"\0" * 16)
    write(tmp_path / "merge.cpf", "[Actions]\n")
    write(tmp_path / "init.script", 'Write "hi"\n')
    write(tmp_path / "data.gof", "gof")
    monkeypatch.setenv("APP_PW", "from-env")
    project(
        tmp_path,
        """
default = ["app"]
[defaults]
namespace = "APP"
[env.app]
image = "intersystemsdc/iris-community:2025.1"
edition = "enterprise"
license = "~/iris.key"
username = "tester"
password = "$APP_PW"
cpf_merge = "merge.cpf"
description = "the app"
tags = ["fast", "sql"]
labels = {team = "db"}
platform = "linux/arm64"
ready_timeout = 60
clones = 5
setup = [
  {objectscript = "init.script", namespace = "%SYS"},
  {load = "src", flags = "cuk", recurse = false},
  {sql = "sql/schema.sql"},
  {globals = "data.gof"},
  {dat = "fixtures/appdb"},
  {ipm = "webterminal", version = "4.9.0"},
  {shell = "echo hi", user = "root"},
]
""",
    )
    spec = load_project(cwd=tmp_path).envs["app"]
    assert spec.edition is Edition.ENTERPRISE and spec.license is not None
    assert spec.license.path == Path.home() / "iris.key"
    assert (spec.username, spec.password, spec.password_generated) == ("tester", "from-env", False)
    assert spec.cpf_merge == (tmp_path / "merge.cpf").resolve()
    assert spec.tags == ("fast", "sql") and spec.labels == (("team", "db"),)
    assert (spec.platform, spec.ready_timeout) == ("linux/arm64", 60.0)
    assert spec.clones == 5
    kinds = [s.kind for s in spec.setup]
    assert kinds == list(StepKind)
    assert [s.index for s in spec.setup] == [1, 2, 3, 4, 5, 6, 7]
    assert spec.setup[0].namespace == "%SYS"
    assert dict(spec.setup[1].options) == {"flags": "cuk", "recurse": "0"}
    assert spec.setup[2].path == (tmp_path / "sql" / "schema.sql").resolve()
    assert dict(spec.setup[4].options) == {"database": "APPDB", "mount": "namespace"}
    assert spec.setup[5].path is None and dict(spec.setup[5].options) == {"version": "4.9.0"}
    assert dict(spec.setup[6].options) == {"user": "root"}


def test_matrix_expansion_with_exclude_and_override(tmp_path: Path) -> None:
    project(
        tmp_path,
        """
[defaults]
license = "iris.key"
[matrix.iris]
version = ["2024.1", "2025.1"]
edition = ["community", "enterprise"]
image = "containers.intersystems.com/intersystems/iris-{edition}:{version}"
description = "IRIS {version} ({edition})"
tags = ["matrix", "v{version}"]
exclude = [{version = "2024.1", edition = "enterprise"}]
[env."iris-2025.1-community"]
namespace = "APP"
""",
    )
    loaded = load_project(cwd=tmp_path)
    assert list(loaded.envs) == [
        "iris-2024.1-community",
        "iris-2025.1-community",
        "iris-2025.1-enterprise",
    ]
    ent = loaded.envs["iris-2025.1-enterprise"]
    assert ent.image == "containers.intersystems.com/intersystems/iris-enterprise:2025.1"
    assert ent.edition is Edition.ENTERPRISE and ent.license is not None
    assert ent.description == "IRIS 2025.1 (enterprise)" and ent.tags == ("matrix", "v2025.1")
    community = loaded.envs["iris-2025.1-community"]
    # The shared license is ignored for community members; the explicit table refines one.
    assert community.license is None and community.namespace == "APP"
    assert loaded.default == tuple(loaded.envs)


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    write(tmp_path / "a.sql", "x")
    project(tmp_path, '[env.e]\nsetup = [{sql = "a.sql"}]\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    assert load_project(cwd=sub).envs["e"].setup[0].path == (tmp_path / "a.sql").resolve()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[env.e]\nimage = 3\n", ["env.e.image", "got 3", "allowed: a Docker image"]),
        ('[env.e]\nedition = "pro"\n', ["env.e.edition", "'pro'", "'community' or 'enterprise'"]),
        ('[env.e]\nimgae = "a"\n', ["env.e.imgae", "unknown key", "did you mean 'image'"]),
        ('[env.e]\nlicense = "k"\n', ["env.e.license", "only applies to edition = 'enterprise'"]),
        ('[env.e]\nnamespace = "1ab"\n', ["env.e.namespace", "'1ab'"]),
        ('[env.e]\nsetup = [{sql = "missing.sql"}]\n', ["env.e.setup[1].sql", "not found: tried"]),
        ('[env.e]\nsetup = [{sql = "../x.sql"}]\n', ["setup[1].sql", "escapes the project root"]),
        ('[env.e]\nsetup = [{sql = "a", load = "b"}]\n', ["setup[1]", "more than one step kind"]),
        ('[env.e]\nsetup = [{namespace = "X"}]\n', ["setup[1]", "no step kind", "objectscript"]),
        ('[env.e]\nsetup = [{ipm = "x", flags = "ck"}]\n', ["setup[1].flags", "unknown key"]),
        ('[env.e]\nsetup = [{dat = "."}]\n', ["setup[1].dat", "no IRIS.DAT"]),
        ("[env.e]\nready_timeout = -1\n", ["env.e.ready_timeout", "positive number"]),
        ("[env.e]\nclones = 17\n", ["env.e.clones", "got 17", "1 to 16"]),
        ("[env.e]\nclones = true\n", ["env.e.clones", "got True", "1 to 16"]),
        ('[env.e]\ntags = ["ok", "no space"]\n', ["env.e.tags[2]", "'no space'"]),
        ('[env."a,b"]\n', ['env."a,b"', "invalid environment name"]),
        ('default = ["nope"]\n[env.e]\n', ["default[1]", "'nope'", "allowed: e"]),
        ("envs = 1\n", ["envs", "unknown key", "did you mean 'env'"]),
        ('[matrix.m]\nversion = "2024.1"\n', ["matrix.m.version", "factor must be"]),
        ('[env.e]\npassword = "$IRIS_ENVS_UNSET_VAR"\n', ["$IRIS_ENVS_UNSET_VAR", "not set"]),
        ("[env.e\n", ["invalid TOML", "line 1"]),
    ],
)
def test_errors_name_file_key_value_and_allowed(
    tmp_path: Path, body: str, expected: list[str]
) -> None:
    message = error_of(tmp_path, body)
    assert str(tmp_path / "iris-envs.toml") in message
    for part in expected:
        assert part in message


def test_pyproject_errors_use_the_full_key_path(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[tool.iris-envs.env.app]\nsetup = [1]\n", "pyproject.toml")
    assert "tool.iris-envs.env.app.setup[1]" in message


def test_password_is_never_echoed(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[env.e]\npassword = 12345678\n")
    assert "12345678" not in message and "env.e.password" in message


@POSIX_ONLY
def test_symlink_out_of_the_project_is_rejected(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside.sql", "x")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "link.sql").symlink_to(outside)
    assert "escapes the project root" in error_of(root, '[env.e]\nsetup = [{sql = "link.sql"}]\n')


def test_not_utf8(tmp_path: Path) -> None:
    write(tmp_path / "iris-envs.toml", b"\xff\xfe")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_project(cwd=tmp_path)


def test_unquoted_dotted_env_name_gets_a_hint(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[env.iris-2025.1]\nimage = "a:1"\n')
    assert "must be quoted" in message and '[env."iris-2025.1"]' in message


def test_env_names_that_differ_only_in_case_would_share_a_repository(tmp_path: Path) -> None:
    error = error_of(tmp_path, '[env.App]\nimage = "x"\n[env.app]\nimage = "x"\n')
    assert "env.app" in error and "clashes with environment 'App'" in error
    assert f"{naming.project_repository(tmp_path, 'app')}" in error


def test_env_names_longer_than_docker_allows_are_rejected(tmp_path: Path) -> None:
    long_name = "a" * 65
    error = error_of(tmp_path, f'[env.{long_name}]\nimage = "x"\n')
    assert "at most 64 characters" in error
    generated = error_of(tmp_path, f'[matrix.{"m" * 60}]\nversion = ["2024.1"]\nimage = "x"\n')
    assert "at most 64 characters" in generated


def test_a_matrix_that_excludes_everything_is_an_error_not_the_default_env(
    tmp_path: Path,
) -> None:
    body = (
        '[matrix.m]\nversion = ["1", "2"]\nimage = "img:{version}"\n'
        'exclude = [{ version = "1" }, { version = "2" }]\n'
    )
    assert "every combination is excluded" in error_of(tmp_path, body)
