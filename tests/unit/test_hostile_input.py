"""Unit tests of hostile or mistaken input found by the hostile test run (issue 14, defect 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iris_envs.config.load import load_project
from iris_envs.config.selection import select_envs
from iris_envs.errors import ConfigError, UnknownEnvironment
from iris_envs.instance.containers import license_mounts
from tests.unit import write


def load(tmp_path: Path, body: str) -> object:
    write(tmp_path / "iris-envs.toml", body)
    return load_project(tmp_path / "iris-envs.toml")


@pytest.mark.parametrize(
    "image",
    ["Intersystems/IRIS:1", "iris::1", "iris:", "a/-b", "x:" + "t" * 129, "a b"],
)
def test_image_references_docker_would_reject_are_config_errors(tmp_path: Path, image: str) -> None:
    with pytest.raises(ConfigError, match="image"):
        load(tmp_path, f'[env.app]\nimage = "{image}"\n')


@pytest.mark.parametrize(
    "image",
    [
        "intersystemsdc/iris-community:latest-em",
        "containers.intersystems.com/intersystems/iris-community:2025.1",
        "localhost:5000/team/iris:2024.1",
        "registry.example.com:443/a/b@sha256:" + "0" * 64,
    ],
)
def test_valid_image_references_pass(tmp_path: Path, image: str) -> None:
    load(tmp_path, f'[env.app]\nimage = "{image}"\n')


def test_an_empty_default_list_is_an_error_not_everything(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"default.*is empty"):
        load(tmp_path, 'default = []\n[env.a]\nimage = "x"\n[env.b]\nimage = "x"\n')


def test_an_empty_env_name_is_an_error_not_everything(tmp_path: Path) -> None:
    project = load(tmp_path, '[env.a]\nimage = "x"\n[env.b]\nimage = "x"\n')
    with pytest.raises(UnknownEnvironment, match="empty name"):
        select_envs(project, [""], None)  # type: ignore[arg-type]
    with pytest.raises(UnknownEnvironment, match="empty name"):
        select_envs(project, None, [" , "])  # type: ignore[arg-type]


def test_a_license_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    project = load(tmp_path, '[env.ent]\nimage = "x"\nedition = "enterprise"\nlicense = "keys"\n')
    spec = project.envs["ent"]  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="is a directory, not a key file"):
        license_mounts(spec)


def test_a_dat_database_named_like_the_created_namespace_is_refused(tmp_path: Path) -> None:
    # It would be copied over the mounted IRIS.DAT of the namespace's own database (issue 8).
    (tmp_path / "fixtures" / "app").mkdir(parents=True)
    (tmp_path / "fixtures" / "app" / "IRIS.DAT").write_bytes(b"\0" * 16)
    body = '[env.e]\nimage = "x"\nnamespace = "APP"\nsetup = [{ dat = "fixtures/app" }]\n'
    with pytest.raises(ConfigError, match="would overwrite the database iris-envs creates"):
        load(tmp_path, body)
    load(tmp_path, body.replace('"fixtures/app" }', '"fixtures/app", database = "APPDATA" }'))


@pytest.mark.parametrize(
    ("folder", "database"), [("irissys", None), ("data", "IRISLIB"), ("user", None), ("d", "user")]
)
def test_a_dat_database_named_like_a_system_database_is_refused(
    tmp_path: Path, folder: str, database: str | None
) -> None:
    # Copying into mgr/<name>/ would overwrite a live system database (even in namespace USER).
    (tmp_path / "fixtures" / folder).mkdir(parents=True)
    (tmp_path / "fixtures" / folder / "IRIS.DAT").write_bytes(b"\0" * 16)
    option = f', database = "{database}"' if database else ""
    body = f'[env.e]\nimage = "x"\nsetup = [{{ dat = "fixtures/{folder}"{option} }}]\n'
    with pytest.raises(ConfigError, match="one of the instance's own databases"):
        load(tmp_path, body)


@pytest.mark.parametrize(
    "merge",
    [
        "[Databases]\nORDERS=/usr/irissys/mgr/orders/\n",
        "[Databases]\nOTHERNAME=/usr/irissys/mgr/orders\n",  # the same folder, another name
        "[Actions]\nCreateDatabase:Name=orders,Directory=/usr/irissys/mgr/orders\n",
    ],
    ids=["databases-section", "same-directory", "actions-create"],
)
def test_a_dat_database_the_cpf_merge_also_defines_is_refused(tmp_path: Path, merge: str) -> None:
    # IRIS would open mgr/orders/ at start while the step's copy is being written there.
    (tmp_path / "fixtures" / "orders").mkdir(parents=True)
    (tmp_path / "fixtures" / "orders" / "IRIS.DAT").write_bytes(b"\0" * 16)
    (tmp_path / "merge.cpf").write_text(merge)
    body = '[env.e]\nimage = "x"\ncpf_merge = "merge.cpf"\nsetup = [{ dat = "fixtures/orders" }]\n'
    with pytest.raises(
        ConfigError, match=r"also defined by the CPF merge file merge.cpf"
    ) as raised:
        select_envs(load(tmp_path, body), None, None)  # the environment's problem, when used
    assert "setup" in str(raised.value) and "allowed:" in str(raised.value)
    (tmp_path / "merge.cpf").write_text("[Databases]\nAUDITDB=/usr/irissys/mgr/auditdb/\n")
    load(tmp_path, body)  # another database in the merge file is fine
