"""CPF merge checks: settings compared as IRIS writes them, create actions by their entries."""

from __future__ import annotations

from iris_envs.config.cpf import IRIS_CPF, parse_cpf, unmerged_settings

CPF = (
    "[Databases]\nIRISSYS=/usr/irissys/mgr/\nAPPDATA=/data/app/\n"
    "[Namespaces]\n%SYS=IRISSYS\nAPP=APPDATA\n[Map.APP]\nGlobal_Orders=APPDATA\n"
    "[config]\nglobals=0,0,512,0,0,0\n[Startup]\nSystemMode=TEST\n"
)


def test_the_cpf_is_at_the_top_of_the_installation_directory() -> None:
    # RACS_cpf: "The default CPF, iris.cpf, is located in the installation directory".
    assert IRIS_CPF == "/usr/irissys/iris.cpf"


def test_settings_are_compared_by_section_and_key() -> None:
    assert parse_cpf(CPF)[("startup", "systemmode")] == "TEST"
    assert unmerged_settings("[Config]\nGlobals = 0,0,512,0,0,0\n", CPF) == []
    assert unmerged_settings("[confg]\nglobals=1\n", CPF) == ["[confg] globals=1"]
    assert unmerged_settings("[config]\nglobals=1\n", CPF) == ["[config] globals=1"]


def test_a_directory_that_gained_its_trailing_slash_counts_as_merged() -> None:
    # IRIS writes directories back with a trailing slash (RACS_Database_n).
    assert unmerged_settings("[Databases]\nAPPDATA=/data/app\n", CPF) == []
    assert unmerged_settings("[Databases]\nAPPDATA=/data/other\n", CPF) == [
        "[databases] appdata=/data/other"
    ]


def test_create_actions_are_checked_by_the_entry_they_leave() -> None:
    merge = (
        "[Actions]\nCreateDatabase:Name=appdata,Directory=/data/app\n"
        "CreateNamespace:Name=APP,Globals=APPDATA\n"
        "CreateMapGlobal:Namespace=APP,Name=Orders,Database=APPDATA\n"
        "CreateUser:Name=tester,PasswordHash=x\n"  # not an iris.cpf entry: not checked
    )
    assert unmerged_settings(merge, CPF) == []
    missing = "[Actions]\nCreateMapPackage:Namespace=APP,Name=Demo,Database=APPDATA\n"
    assert unmerged_settings(missing, CPF) == [
        "[Actions] CreateMapPackage:Namespace=APP,Name=Demo,Database=APPDATA "
        "(no package_demo in [map.app])"
    ]


def test_a_lower_case_actions_section_is_reported() -> None:
    # IRIS ignores a lower-case [actions] section: nothing in it happens.
    merge = "[actions]\nCreateNamespace:Name=NEW,Globals=APPDATA\n"
    assert unmerged_settings(merge, CPF) == [
        "[actions] (the section is [Actions]: IRIS ignores [actions])"
    ]
