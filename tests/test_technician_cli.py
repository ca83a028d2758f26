"""``bin-agent selftest``: a table of results, exit 1 on any failure."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from agent.cli.main import cli
from agent.ops.instance_lock import InstanceLock
from firmware_config import PROFILES_DIR, load_config


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The profiles keep their database (and the agent lock) under ~: a private home."""
    monkeypatch.setenv("HOME", str(tmp_path))


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


@pytest.mark.parametrize(
    "args",
    [
        ["selftest"],
        ["calibrate", "tare", "--yes"],
        ["calibrate", "scale", "--mass-g", "1000", "--yes"],
        ["calibrate", "empty-depth", "--yes"],
    ],
)
def test_technician_commands_refuse_to_run_beside_a_running_agent(
    tmp_path: Path, args: list[str]
) -> None:
    path = tmp_path / "bin.toml"
    path.write_text((PROFILES_DIR / "sim-pin.toml").read_text())
    before = path.read_text()
    db_path = load_config(path).storage.path
    running = InstanceLock(db_path)  # what `bin-agent run` holds
    try:
        result = CliRunner().invoke(cli, [*args, "--config", str(path)])
    finally:
        running.release()
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith(f"error: bin-agent {' '.join(a for a in args[:2] if a[0] != '-')}:")
    assert "another agent is already running" in line
    assert str(running.path) in line
    assert path.read_text() == before  # nothing measured, nothing written
    assert CliRunner().invoke(cli, ["selftest", "--config", str(path)]).exit_code == 0


def _leaf_commands() -> list[list[str]]:
    leaves: list[list[str]] = []

    def walk(path: list[str], command: click.Command) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk([*path, name], sub)
        else:
            leaves.append(path)

    walk([], cli)
    return leaves


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| `bin-agent ")]


def _names(row: str, path: list[str]) -> bool:
    position = row.find("bin-agent ")
    for word in path:
        position = row.find(word, position)
        if position < 0:
            return False
    return True


@pytest.mark.parametrize("doc", ["README.md", "docs/operations.md"])
def test_every_bin_agent_command_is_in_the_command_tables(doc: str) -> None:
    text = (Path(__file__).resolve().parents[1] / doc).read_text()
    rows = _table_rows(text)
    leaves = _leaf_commands()
    assert ["model", "train"] in leaves
    assert ["model", "eval"] in leaves
    missing = [" ".join(p) for p in leaves if not any(_names(row, p) for row in rows)]
    assert missing == [], f"{doc}: no command-table row for bin-agent {missing}"


def test_an_unusable_lock_file_is_named_without_blaming_an_agent(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_text((PROFILES_DIR / "sim-pin.toml").read_text())
    db_path = load_config(path).storage.path
    lock = db_path.with_name(db_path.name + ".lock")
    lock.mkdir(parents=True)  # the lock file's place is taken by a directory
    result = CliRunner().invoke(cli, ["selftest", "--config", str(path)])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("error: bin-agent selftest: ")
    assert str(lock) in line
    assert "stop it first" not in line
