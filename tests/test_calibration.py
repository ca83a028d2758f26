"""Calibration round-trips through the simulator and the config file, comments kept."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli.main import cli
from agent.ops.calibration import CalibrationError, RawScale, measure_scale, write_calibration
from firmware_config import PROFILES_DIR, load_config
from tests.support.rigs import make_sim_rig

HEADER = "# Bin 42 behind the bakery: do not move the tray.\n"


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "bin.toml"
    text = (PROFILES_DIR / "sim-pin.toml").read_text()
    text = text.replace("tare_offset = 84000", "tare_offset = 0  # to be measured")
    text = text.replace("scale_counts_per_g = 428.0", "scale_counts_per_g = 100.0")
    text = text.replace("[simulation.pins]\n", "[simulation.pins]\ncontainer_depth_mm = 1180.0\n")
    text = text.replace("wall_echo_probability = 0.05", "wall_echo_probability = 0.0")
    path.write_text(HEADER + text)
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_tare_scale_and_depth_round_trip(profile: Path) -> None:
    true = load_config(profile).simulation.pins
    out = run("calibrate", "tare", "--config", str(profile))
    assert "(simulated) Empty the tray" in out
    config = load_config(profile)
    assert config.calibration.tare_offset == pytest.approx(true.hx711_offset, abs=40)

    run("calibrate", "scale", "--mass-g", "500", "--config", str(profile))
    config = load_config(profile)
    assert config.calibration.scale_counts_per_g == pytest.approx(
        true.hx711_counts_per_g, rel=0.002
    )

    run("calibrate", "empty-depth", "--config", str(profile))
    config = load_config(profile)
    assert config.calibration.empty_distance_mm == pytest.approx(1180.0, abs=5.0)

    text = profile.read_text()
    assert text.startswith(HEADER)
    assert "# to be measured" in text
    assert "# Written back by `bin-agent calibrate" in text
    assert 'bin_id = "sim-pin-0001"' in text
    assert [p.name for p in profile.parent.iterdir()] == ["bin.toml"]  # no temp files left

    rig = make_sim_rig(config)
    rig.need_sim().place_test_mass(250.0)
    assert rig.hardware.scale.read_g() == pytest.approx(250.0, abs=2.0)


def test_scale_without_a_mass_on_the_tray_is_refused() -> None:
    rig = make_sim_rig()
    scale = rig.hardware.scale
    assert isinstance(scale, RawScale)
    scale.tare()
    with pytest.raises(CalibrationError, match="is the mass on the tray"):
        measure_scale(scale, 500.0)


def test_an_invalid_result_is_not_written(profile: Path) -> None:
    before = profile.read_text()
    with pytest.raises(CalibrationError, match="not written"):
        write_calibration(profile, {"empty_distance_mm": 200.0})  # not beyond full (250)
    assert profile.read_text() == before


def test_unknown_calibration_key_is_refused(profile: Path) -> None:
    with pytest.raises(CalibrationError, match=r"calibration\.gain"):
        write_calibration(profile, {"gain": 1})


def test_a_missing_calibration_table_is_added(tmp_path: Path) -> None:
    path = tmp_path / "minimal.toml"
    path.write_text('# minimal\n[identity]\nbin_id = "bin-007"\n[hardware]\nbackend = "sim-pin"\n')
    path.chmod(0o640)
    write_calibration(path, {"tare_offset": 1234})
    assert load_config(path).calibration.tare_offset == 1234
    assert path.read_text().startswith("# minimal\n")
    assert path.stat().st_mode & 0o777 == 0o640


def test_device_errors_are_one_line(profile: Path) -> None:
    text = profile.read_text().replace('# hx711 = "stuck_high"', 'hx711 = "stuck_high"')
    profile.write_text(text)
    result = CliRunner().invoke(cli, ["calibrate", "tare", "--config", str(profile)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("error: loadcell: not_ready:")


def test_copying_a_profile_keeps_it_valid(tmp_path: Path) -> None:
    path = tmp_path / "copy.toml"
    shutil.copy(PROFILES_DIR / "sim-pin.toml", path)
    write_calibration(path, {"full_distance_mm": 300.0})
    assert load_config(path).calibration.full_distance_mm == 300.0


def test_a_failed_write_is_one_line_and_keeps_the_file(
    profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = profile.read_text()

    def read_only_fs(src: object, dst: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(dst))

    monkeypatch.setattr(os, "replace", read_only_fs)
    result = CliRunner().invoke(cli, ["calibrate", "tare", "--config", str(profile)])
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last == (
        f"error: {profile}: calibration not written, the file is unchanged: Read-only file system"
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert profile.read_text() == before
    assert [p.name for p in profile.parent.iterdir()] == [profile.name]  # no temporary left


def test_an_unreadable_configuration_is_a_calibration_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('# caf\xe9\n[identity]\nbin_id = "bin-001"\n'.encode("latin-1"))
    with pytest.raises(CalibrationError, match=r"latin1\.toml: not UTF-8"):
        write_calibration(path, {"tare_offset": 1})
    with pytest.raises(CalibrationError, match=r"missing\.toml: cannot read"):
        write_calibration(tmp_path / "missing.toml", {"tare_offset": 1})
