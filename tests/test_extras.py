"""Without the bridge extra, the bridge's commands say what to install, in one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cloud_bridge import entry, extras
from simulator.cli import cli as sim_cli


def test_bridge_without_its_extra_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(entry, "missing_bridge_packages", lambda: ["ortools", "fastapi"])
    with pytest.raises(SystemExit) as caught:
        entry.main()
    assert caught.value.code == 1
    error = capsys.readouterr().err
    assert "ortools, fastapi" in error
    assert "pip install 'revloop[bridge]'" in error


def test_demo_without_the_bridge_extra_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(extras, "missing_bridge_packages", lambda: ["uvicorn"])
    result = CliRunner().invoke(sim_cli, ["demo"])
    assert result.exit_code == 1
    assert "revloop[bridge]" in result.output


def test_the_bridge_extra_is_installed_in_the_dev_environment() -> None:
    assert extras.missing_bridge_packages() == []
