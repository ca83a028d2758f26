"""The deployment files checked as far as possible without systemd running them: the
agent's unit says what the agent does (notify, watchdog, restart on exit 75, its
directories), systemd's own verifier accepts it, and the journald drop-in bounds logs.
(The generated broker configuration is started by Mosquitto in the TLS tests.)"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.remote.commands import RESTART_EXIT_CODE
from firmware_config import PROFILES_DIR, load_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNITS = ("revloop-agent.service", "revloop-bridge.service")


def read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def test_agent_unit_runs_the_agent_as_a_watched_notify_service() -> None:
    unit = read_ini(DEPLOY / "revloop-agent.service")
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    # The runtime loop wakes at least every second and pings at half the interval;
    # the longest blocking step (a remote self-test) takes a few seconds.
    assert int(service["WatchdogSec"]) >= 30
    assert service["Restart"] == "always"
    assert int(service["RestartSec"]) > 0
    assert str(RESTART_EXIT_CODE) in service["RestartForceExitStatus"].split()
    assert service["ExecStart"].split()[1:] == ["run", "--config", "/etc/revloop/agent.toml"]
    assert service["ExecStart"].split()[0].endswith("/bin-agent")
    assert service["User"] == "revloop"
    assert {"gpio", "video"} <= set(service["SupplementaryGroups"].split())
    assert "/etc/revloop" in service["ReadWritePaths"].split()
    for hides_hardware in ("PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock"):
        assert hides_hardware not in service, f"{hides_hardware} would hide GPIO or the camera"
    assert "multi-user.target" in unit["Install"]["WantedBy"]


def test_agent_unit_state_directory_holds_the_reference_outbox() -> None:
    service = read_ini(DEPLOY / "revloop-agent.service")["Service"]
    profile = load_config(PROFILES_DIR / "rpi4.toml")
    assert profile.storage.path == Path("/var/lib") / service["StateDirectory"] / "agent.db"
    assert profile.broker.password_env is None  # certificates, no password to provide
    assert profile.broker.tls.enabled


@pytest.mark.parametrize("name", UNITS)
def test_systemd_accepts_the_unit(name: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (DEPLOY / name).read_text(encoding="utf-8")
    # The verifier wants the executable to exist: point it at this environment's.
    venv_bin = Path(sys.executable).parent
    unit = tmp_path / name
    unit.write_text(text.replace("/opt/revloop/venv/bin", str(venv_bin)), encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "mosquitto.service" not in line  # not installed here
    ]
    assert problems == []
    assert result.returncode == 0


def test_journald_dropin_bounds_the_logs() -> None:
    journal = read_ini(DEPLOY / "journald-revloop.conf")["Journal"]
    assert journal["Storage"] == "persistent"
    assert journal["SystemMaxUse"].endswith("M")
    assert "SystemKeepFree" in journal
