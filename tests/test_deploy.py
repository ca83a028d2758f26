"""The deployment files checked as far as possible without systemd running them: the
agent's unit says what the agent does (notify, watchdog, restart on exit 75, its
directories); the bridge's keeps its database where its StateDirectory is and takes its
secrets from an EnvironmentFile, as docs/deploy-bridge.md installs it; every option
ExecStart passes exists; systemd's own verifier accepts both, and the journald drop-in
bounds logs. (The generated broker configuration is started by Mosquitto in the TLS
tests.)"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest

from agent.cli.main import cli as agent_cli
from agent.remote.commands import RESTART_EXIT_CODE
from cloud_bridge.cli.main import cli as bridge_cli
from cloud_bridge.config.settings import load_settings
from firmware_config import PROFILES_DIR, load_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = ("revloop-agent.service", "revloop-bridge.service")
PROGRAMS: dict[str, click.Group] = {"bin-agent": agent_cli, "bin-bridge": bridge_cli}


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


def exec_start(name: str) -> list[str]:
    return shlex.split(read_ini(DEPLOY / name)["Service"]["ExecStart"])


@pytest.mark.parametrize("name", UNITS)
def test_exec_start_passes_only_options_the_command_has(name: str) -> None:
    program, subcommand, *args = exec_start(name)
    command = PROGRAMS[Path(program).name].commands[subcommand]
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    options = [arg.split("=")[0] for arg in args if arg.startswith("-")]
    assert options
    assert set(options) <= known, f"{name}: {set(options) - known} unknown to {subcommand}"
    # and click parses the whole line (values, arity)
    command.make_context(subcommand, list(args))


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_bridge_unit_keeps_its_database_in_its_state_directory() -> None:
    service = read_ini(DEPLOY / "revloop-bridge.service")["Service"]
    state = Path("/var/lib") / service["StateDirectory"]
    # ProtectSystem=strict leaves only the state directory writable: the database and
    # its -wal and -shm files must be there, whatever store.path the file says.
    assert service["ProtectSystem"] == "strict"
    assert "ReadWritePaths" not in service
    args = exec_start("revloop-bridge.service")
    db = Path(option(args, "--db"))
    assert db.parent == state
    assert service["WorkingDirectory"] == str(state)
    assert service["User"] == "revloop-bridge"
    assert service["StateDirectoryMode"] == "0750"


def deploy_doc_block(language: str) -> str:
    text = (ROOT / "docs" / "deploy-bridge.md").read_text(encoding="utf-8")
    (block,) = re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)
    return str(block)


def test_bridge_secrets_come_from_the_environment_file(tmp_path: Path) -> None:
    service = read_ini(DEPLOY / "revloop-bridge.service")["Service"]
    env_file = service["EnvironmentFile"]
    assert env_file == "/etc/revloop/bridge.env"  # not optional ("-"): missing fails loudly
    # The documented settings validate, keep the database where the unit puts it, and
    # every variable they name is in the documented secrets file.
    settings_file = tmp_path / "bridge.toml"
    settings_file.write_text(deploy_doc_block("toml"), encoding="utf-8")
    settings = load_settings(settings_file)
    args = exec_start("revloop-bridge.service")
    assert settings.store.path == Path(option(args, "--db"))
    assert option(args, "--config") == "/etc/revloop/bridge.toml"
    named = {token.env for token in settings.api.tokens if token.env}
    named |= {hook.secret_env for hook in settings.webhooks}
    if settings.broker.password_env:
        named.add(settings.broker.password_env)
    data = tomllib.loads(deploy_doc_block("toml"))
    assert data["api"]["tokens"]
    provided = {
        line.split("=", 1)[0]
        for line in deploy_doc_block("dotenv").splitlines()
        if line and not line.startswith("#")
    }
    assert named
    assert named <= provided


def test_the_ci_script_is_valid_bash() -> None:
    """A broken .ci/run fails every submission before a test runs: check its syntax here."""
    script = Path(__file__).resolve().parents[1] / ".ci" / "run"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
