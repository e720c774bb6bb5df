"""Derived environments (issue 10 item 5): names, steps and refusals, without an engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iris_envs.derived import derive, derived_name
from iris_envs.errors import ConfigError
from iris_envs.manifest import EnvSpec, SetupStep, StepKind


def fixture_folder(root: Path, name: str) -> Path:
    folder = root / "fixtures" / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({}))
    return folder


def spec(root: Path, **extra: object) -> EnvSpec:
    return EnvSpec(name="dev", namespace="APP", project_root=root, **extra)  # type: ignore[arg-type]


def test_the_derived_spec_is_built_on_the_base_snapshot_with_only_the_fixture_steps(
    tmp_path: Path,
) -> None:
    fixture_folder(tmp_path, "orders")
    base = spec(tmp_path, cpf_merge=tmp_path / "merge.cpf")
    derived = derive(base, "iris-envs/dev:0123456789ab", ["fixtures/orders"], mount="database")
    assert derived.image == "iris-envs/dev:0123456789ab"
    assert derived.cpf_merge is None  # already applied in the base snapshot
    assert derived.name == derived_name("dev", ["fixtures/orders"], "database")
    assert derived.name.startswith("dev.fx-")
    [step] = derived.setup
    assert step.kind is StepKind.DAT
    assert step.path == (tmp_path / "fixtures" / "orders").resolve()
    assert dict(step.options) == {"database": "ORDERS", "mount": "database"}
    assert (derived.namespace, derived.username) == (base.namespace, base.username)


def test_the_name_depends_on_the_fixtures_and_mount_not_their_order() -> None:
    assert derived_name("dev", ["a", "b"], "namespace") == derived_name(
        "dev", ["b", "a"], "namespace"
    )
    assert derived_name("dev", ["a"], "namespace") != derived_name("dev", ["a"], "database")
    assert derived_name("dev", ["a"], "namespace") != derived_name("dev", ["b"], "namespace")
    assert len(derived_name("x" * 64, ["a"], "namespace")) <= 64


@pytest.mark.parametrize(
    ("folder", "fixtures", "mount", "message"),
    [
        ("orders", ["../outside"], "namespace", "outside the project"),
        ("orders", ["/etc"], "namespace", "outside the project"),
        ("orders", ["fixtures/missing"], "namespace", "is not a fixture folder"),
        ("orders", [], "namespace", "at least one fixture folder"),
        ("orders", ["fixtures/orders"], "everything", "mount='everything'"),
        ("irissys", ["fixtures/irissys"], "namespace", "one of the instance's own databases"),
        ("user", ["fixtures/user"], "namespace", "one of the instance's own databases"),
        ("app", ["fixtures/app"], "namespace", "the database of the namespace APP"),
        ("2024data", ["fixtures/2024data"], "namespace", "is not a database name"),
    ],
)
def test_bad_markers_are_config_errors_that_name_the_problem(
    tmp_path: Path, folder: str, fixtures: list[str], mount: str, message: str
) -> None:
    fixture_folder(tmp_path, folder)
    (tmp_path.parent / "outside").mkdir(exist_ok=True)
    (tmp_path.parent / "outside" / "manifest.json").write_text("{}")
    with pytest.raises(ConfigError, match="iris_fixtures") as raised:
        derive(spec(tmp_path), "iris-envs/dev:0123456789ab", fixtures, mount=mount)
    assert message in str(raised.value)


def test_a_marker_fixture_named_like_a_database_the_environment_restores_is_refused(
    tmp_path: Path,
) -> None:
    own = fixture_folder(tmp_path, "orders")
    fixture_folder(tmp_path / "more", "orders")
    base = spec(tmp_path, setup=(SetupStep(0, StepKind.DAT, "fixtures/orders", own),))
    with pytest.raises(ConfigError, match="already restored by a `dat` step"):
        derive(base, "iris-envs/dev:0123456789ab", ["more/fixtures/orders"], mount="database")


@pytest.mark.parametrize(
    "merge_text",
    [
        "[Databases]\nAUDIT=/usr/irissys/mgr/audit/\n",
        # Another name, the same mgr/audit/ folder: the same rule as a `dat` step's (config).
        "[Actions]\nCreateDatabase:Name=LOGS,Directory=/usr/irissys/mgr/audit/\n",
    ],
)
def test_a_marker_fixture_whose_database_the_cpf_merge_file_defines_is_refused(
    tmp_path: Path, merge_text: str
) -> None:
    fixture_folder(tmp_path, "audit")
    merge = tmp_path / "merge.cpf"
    merge.write_text(merge_text)
    with pytest.raises(ConfigError, match="defined by the environment's CPF merge file"):
        derive(
            spec(tmp_path, cpf_merge=merge),
            "iris-envs/dev:0123456789ab",
            ["fixtures/audit"],
            mount="database",
        )
