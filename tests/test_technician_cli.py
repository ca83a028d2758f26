"""``bin-agent selftest``: a table of results, exit 1 on any failure."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from agent.cli import cli
from firmware_config import PROFILES_DIR


def test_selftest_passes_on_the_simulated_bin() -> None:
    result = CliRunner().invoke(cli, ["selftest", "--config", str(PROFILES_DIR / "sim-pin.toml")])
    assert result.exit_code == 0, result.output
    for check in ("temperature", "fill", "scale", "door", "beam", "camera", "flap", "lock"):
        assert check in result.output
    assert "FAIL" not in result.output


def test_selftest_fails_with_an_injected_fault(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    text = (PROFILES_DIR / "sim-pin.toml").read_text()
    path.write_text(text.replace('# ultrasonic = "no_echo"', 'ultrasonic = "no_echo"'))
    result = CliRunner().invoke(cli, ["selftest", "--config", str(path)])
    assert result.exit_code == 1
    fill_line = next(line for line in result.output.splitlines() if "│ fill" in line)
    assert "FAIL" in fill_line
    assert "no_echo" in fill_line
    assert "self-test failed: fill" in result.output


def test_bad_config_is_reported_by_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[identity]\nbin_id = "bin-001"\n[simulation.faults]\nhx711 = "gremlin"\n')
    result = CliRunner().invoke(cli, ["selftest", "--config", str(path)])
    assert result.exit_code == 1
    assert "simulation.faults.hx711" in result.output


def test_every_technician_command_has_help() -> None:
    runner = CliRunner()
    for args in (
        ["selftest"],
        ["calibrate"],
        ["calibrate", "tare"],
        ["calibrate", "scale"],
        ["calibrate", "empty-depth"],
    ):
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output
