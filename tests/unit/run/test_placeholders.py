"""The wrapped command's per-environment placeholders: checked before a build, expanded per env."""

from __future__ import annotations

from pathlib import Path

import pytest

from iris_envs.errors import ConfigError
from iris_envs.exit_codes import ExitCode
from iris_envs.run import placeholders


def test_the_known_placeholders_are_found_and_expanded_inside_an_argument() -> None:
    command = ("pytest", "--junitxml={env_dir}/junit.xml", "-k", "{env} and v{iris_version}")
    assert placeholders.check_command(command) == {"env", "env_dir", "iris_version"}
    values = placeholders.command_values("a", Path("/out/a"), "2025.1.0.223.0")
    assert placeholders.expand(command, values) == (
        "pytest",
        "--junitxml=/out/a/junit.xml",
        "-k",
        "a and v2025.1.0.223.0",
    )


def test_double_braces_are_literal_and_a_value_stays_one_argument() -> None:
    command = ("sh", "-c", "echo ${{HOME}} {{env}} {env}")
    assert placeholders.check_command(command) == {"env"}
    values = placeholders.command_values("my env", Path("/x"), "")
    assert placeholders.expand(command, values) == ("sh", "-c", "echo ${HOME} {env} my env")
    # A command without braces is passed as given, even one a format would change.
    assert placeholders.expand(("echo", "plain"), values) == ("echo", "plain")


def test_a_missing_version_label_reads_unknown() -> None:
    assert placeholders.command_values("a", Path("/x"), "")["iris_version"] == "unknown"


@pytest.mark.parametrize(
    ("argument", "named"),
    [
        ("--junitxml={envdir}/j.xml", "{envdir}"),
        ("{env!r}", "{env!r}"),
        ("{env:>9}", "{env:>9}"),
        ("{}", "{}"),
        ("{0}", "{0}"),
        ("${HOME}", "{HOME}"),
    ],
)
def test_an_unknown_placeholder_is_a_usage_error_naming_it(argument: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        placeholders.check_command(("pytest", argument))
    assert caught.value.exit_code == ExitCode.CONFIG_ERROR
    assert f"unknown placeholder {named}" in str(caught.value)
    assert "{{" in (caught.value.hint or "")


@pytest.mark.parametrize("argument", ["a{b", "a}b", "{env"])
def test_a_lone_brace_is_a_usage_error(argument: str) -> None:
    with pytest.raises(ConfigError, match=r"Single|expected"):
        placeholders.check_command(("echo", argument))


def test_env_dir_is_under_dot_iris_envs_unless_output_is_given(tmp_path: Path) -> None:
    default = placeholders.env_dir(tmp_path, "a", None)
    assert default == tmp_path / ".iris-envs" / "a"
    placeholders.make_env_dir(default)
    assert default.is_dir()
    assert (tmp_path / ".iris-envs" / ".gitignore").read_text().splitlines()[-1] == "*"
    chosen = placeholders.env_dir(tmp_path, "a", tmp_path / "out")
    assert chosen == tmp_path / "out" / "a"
    placeholders.make_env_dir(chosen)
    assert not (tmp_path / "out" / ".gitignore").exists()  # a folder the user chose is theirs


def test_double_braces_are_literal_in_a_command_with_no_placeholder(tmp_path: Path) -> None:
    # The escape must not depend on whether another argument uses a placeholder.
    from iris_envs.config.spec import EnvSpec
    from iris_envs.run.runner import RunOptions, _expand_command

    spec = EnvSpec(name="e", project_root=tmp_path)
    code = "print(f'{{x}}')"
    expanded = _expand_command(spec, RunOptions(command=("python", "-c", code)), "2025.1")
    assert expanded == ("python", "-c", "print(f'{x}')")
