"""``bin-agent status``: the local state of a bin, read beside a running agent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli.main import cli
from agent.clock import ManualClock
from agent.storage.localdb import MIGRATIONS, LocalDb
from agent.storage.outbox import counter_origin
from tests.support.bins import bin_config, make_bin


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "bin.toml"
    path.write_text(
        f'[identity]\nbin_id = "bin-001"\n[hardware]\nbackend = "sim-device"\n'
        f'[storage]\npath = "{tmp_path / "bin-001.db"}"\n'
    )
    return path


def test_status_reports_outbox_fill_and_connection(tmp_path: Path) -> None:
    config_file = write_config(tmp_path)
    clock = ManualClock()
    origin = counter_origin(clock)  # where a fresh database starts its seq
    test_bin = make_bin(bin_config(tmp_path), port=1, clock=clock)
    test_bin.physical.contents_volume_l = 0.3 * test_bin.physical.container_volume_l
    runtime = test_bin.agent.runtime
    runtime.step()
    runtime.set_alarm("tamper", True, "lid forced")
    clock.advance(90)
    # The agent is "running" (it holds its lock) while status reads its database.
    result = CliRunner().invoke(cli, ["status", "--config", str(config_file), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["bin_id"] == "bin-001"
    assert report["agent_running"] is True
    assert report["connected"] is False
    assert report["outbox_depth"] >= 3  # telemetry, health, alarm, all unsent
    assert report["last_seq"] - origin == report["outbox_depth"]
    assert report["fill_pct"] == test_bin.agent.runtime.state.fill_pct
    assert report["active_alarms"] == ["tamper"]
    assert report["outbox_unconfirmed"] == 0
    # The broker took the alarm; the bridge has not confirmed it (a bridge down, or a
    # broker that drops what it took): status says so, and for how long.
    alarm = test_bin.agent.outbox.last_seq
    test_bin.agent.outbox.mark_sent([alarm])
    report = json.loads(
        CliRunner().invoke(cli, ["status", "--config", str(config_file), "--json"]).output
    )
    assert report["outbox_unconfirmed"] == 1
    assert report["outbox_depth"] == report["last_seq"] - origin  # still stored
    text = CliRunner().invoke(cli, ["status", "--config", str(config_file)])
    assert "outbox" in text.output
    assert "unconfirmed    1 taken by the broker, not yet confirmed by the bridge" in text.output
    assert "tamper" in text.output
    test_bin.agent.db.close()
    test_bin.agent.instance_lock.release()
    stopped = CliRunner().invoke(cli, ["status", "--config", str(config_file)])
    assert "agent not running" in stopped.output


def test_status_without_a_database_is_one_clear_line(tmp_path: Path) -> None:
    config_file = write_config(tmp_path)
    result = CliRunner().invoke(cli, ["status", "--config", str(config_file)])
    assert result.exit_code == 1
    assert "no agent database" in result.output
    assert "Traceback" not in result.output


def test_missing_tls_files_are_named_and_release_the_database(tmp_path: Path) -> None:
    from agent.errors import AgentError

    config = bin_config(
        tmp_path, **{"broker.tls": f'enabled = true\nca_file = "{tmp_path / "nope.crt"}"'}
    )
    with pytest.raises(AgentError, match=r"broker\.tls\.ca_file: .*nope\.crt does not exist"):
        make_bin(config, port=8883)
    # nothing left locked: a corrected agent can start on the same database
    fixed = make_bin(bin_config(tmp_path), port=1)
    fixed.agent.db.close()
    fixed.agent.instance_lock.release()


def test_status_on_a_database_an_older_agent_wrote_asks_for_a_restart(tmp_path: Path) -> None:
    config_file = write_config(tmp_path)
    database = tmp_path / "bin-001.db"
    LocalDb(database).close()
    with sqlite3.connect(database) as conn:  # as the agent before the newest migration left it
        newest = MIGRATIONS[-1][0]
        conn.execute("DELETE FROM _migrations WHERE name = ?", (newest,))
    result = CliRunner().invoke(cli, ["status", "--config", str(config_file)])
    assert result.exit_code == 1
    assert "written by an older agent" in result.output
    assert newest in result.output
    assert "restart the agent" in result.output
    assert "Traceback" not in result.output
