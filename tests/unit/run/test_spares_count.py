"""One rule for the number of warm spares: ``--spares``, $IRIS_ENVS_SPARES and ``spares``
(issue 22 item 10; no Docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iris_envs.cli.main import main
from iris_envs.config.load import load_project
from iris_envs.config.spec import EnvSpec
from iris_envs.errors import ConfigError
from iris_envs.exit_codes import ExitCode
from iris_envs.run.spares import wanted_spares
from tests.unit import write

BAD = ["12", "9", "²", "٣", "-1", "1.5", "many", "1" * 40]


@pytest.mark.parametrize("raw", BAD)
def test_the_variable_is_held_to_the_setting_s_rule(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRIS_ENVS_SPARES", raw)
    with pytest.raises(ConfigError, match=r"IRIS_ENVS_SPARES=.*0 to 8"):
        wanted_spares(EnvSpec(name="app", spares=1))


@pytest.mark.parametrize(("raw", "count"), [("0", 0), (" 3 ", 3), ("8", 8), ("", 1)])
def test_good_variable_values_and_the_setting_underneath(
    raw: str, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IRIS_ENVS_SPARES", raw)
    assert wanted_spares(EnvSpec(name="app", spares=1)) == count
    assert wanted_spares(EnvSpec(name="app", spares=1), 2) == 2  # the option wins


@pytest.mark.parametrize("value", ["9", "-1", "true", '"2"', "1.0"])
def test_the_setting_is_checked_by_the_same_rule(tmp_path: Path, value: str) -> None:
    write(tmp_path / "iris-envs.toml", f"[env.app]\nspares = {value}\n")
    with pytest.raises(ConfigError, match=r"spares: invalid value.*0 to 8"):
        load_project(tmp_path / "iris-envs.toml")


@pytest.mark.parametrize(
    ("option", "variable"), [("²", None), ("12", None), (None, "²"), (None, "12")]
)
def test_the_command_line_says_which_it_was_with_exit_2_and_no_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    option: str | None,
    variable: str | None,
) -> None:
    write(tmp_path / "iris-envs.toml", "[env.app]\n")
    monkeypatch.chdir(tmp_path)
    if variable is not None:
        monkeypatch.setenv("IRIS_ENVS_SPARES", variable)
    spares = ["--spares", option] if option is not None else []
    # Refused before anything else: no engine is asked (none is needed for this test).
    assert main(["run", *spares, "--", "true"]) == int(ExitCode.CONFIG_ERROR)
    err = capsys.readouterr().err
    assert ("--spares" if option else "IRIS_ENVS_SPARES") in err and "0 to 8" in err
