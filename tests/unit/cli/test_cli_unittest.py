"""``iris-envs unittest`` without PATH: the IPM module.xml's test folders, or one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from iris_envs.cli import main as cli


def test_no_path_and_no_module_xml_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["unittest"]) == 2
    assert "no PATH given and no module.xml here" in capsys.readouterr().err


def test_a_module_xml_folder_that_does_not_exist_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "module.xml").write_text(
        '<Export><Document name="m.ZPM"><Module><Name>m</Name>'
        '<UnitTest Name="/tests/unit/" Package="M.Tests"/></Module></Document></Export>'
    )
    assert cli.main(["unittest"]) == 2
    err = capsys.readouterr().err
    assert "no such file or folder (module.xml <UnitTest Name>):" in err, err
    assert "tests/unit" in err
