"""``bin-bridge`` commands for technicians without a running bridge: ``tickets``,
``commands`` and ``config status`` on a database, and what ``config push`` and ``cmd``
refuse before calling the API (the calls themselves are tested end to end in
``test_technicians_end_to_end.py``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from cloud_bridge.cli.main import cli
from cloud_bridge.cli.technicians import parse_args
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from tests.support import bin_messages as msg

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """bin-001 with a sensor fault and a rejected configuration; bin-002 quiet."""
    path = tmp_path / "bridge.db"
    store = SQLiteStore(path)
    processor = Processor(validate_settings({}), store, lambda: NOW)
    processor.process(
        [
            Inbound(*msg.state("bin-001", 1, region="north")),
            Inbound(*msg.state("bin-002", 1, region="south")),
            Inbound(*msg.fault("bin-001", 2, "ultrasonic", "no_echo", detail="3 pings")),
            Inbound(*msg.alarm("bin-002", 2, "tilt")),
            Inbound(*msg.alarm("bin-002", 3, "tilt", active=False)),
        ]
    )
    processor.run(
        lambda: processor.push_config(
            {"thresholds": {"unlock_fill_pct": 90}}, bin_id="bin-001", region=None, actor="tech"
        )
    )
    processor.process([Inbound(*msg.config_reported("bin-001", 3, 4, "rejected", "thresholds"))])
    processor.run(lambda: processor.send_command("bin-001", "ping", {}, 30, "tech"))
    store.close()
    return path


def invoke(*args: str) -> Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))


def test_tickets_json_and_filters(db: Path) -> None:
    result = invoke("tickets", "--db", str(db), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert sorted((r["bin_id"], r["kind"], r["status"]) for r in rows) == [
        ("bin-001", "config_not_applied", "open"),
        ("bin-001", "sensor_fault", "open"),
    ]
    assert {"ticket_id", "severity", "detail", "opened_at", "ts", "causes"} <= rows[0].keys()
    only = json.loads(invoke("tickets", "--db", str(db), "--json", "--kind", "sensor_fault").output)
    assert [r["causes"] for r in only] == [["ultrasonic/no_echo"]]
    assert (
        json.loads(invoke("tickets", "--db", str(db), "--json", "--region", "south").output) == []
    )
    table = invoke("tickets", "--db", str(db), "--open")
    assert table.exit_code == 0
    assert "sensor_fault" in table.output
    assert "ultrasonic/no_echo: 3 pings" in table.output


def test_config_status_flags_bins_that_did_not_apply(db: Path) -> None:
    rows = json.loads(invoke("config", "status", "--db", str(db), "--json").output)
    by_bin = {r["bin_id"]: r for r in rows}
    assert (by_bin["bin-001"]["state"], by_bin["bin-001"]["flagged"]) == ("rejected", True)
    assert by_bin["bin-001"]["desired_version"] == 4
    assert by_bin["bin-001"]["reported_error"] == "thresholds"
    assert (by_bin["bin-002"]["state"], by_bin["bin-002"]["flagged"]) == ("none", False)
    flagged = json.loads(invoke("config", "status", "--db", str(db), "--json", "--flagged").output)
    assert [r["bin_id"] for r in flagged] == ["bin-001"]
    table = invoke("config", "status", "--db", str(db))
    assert table.exit_code == 0
    assert "rejected" in table.output


def test_commands_lists_what_was_sent(db: Path) -> None:
    (row,) = json.loads(invoke("commands", "--db", str(db), "--json").output)
    assert (row["bin_id"], row["name"], row["status"]) == ("bin-001", "ping", "pending")
    assert row["expires_at"] == (NOW + timedelta(seconds=30)).isoformat()[:19] + ".000Z"
    text = invoke("commands", "--db", str(db), "--bin", "bin-001")
    assert "ping" in text.output


def test_bins_json_shows_desired_versus_reported_and_health(db: Path) -> None:
    rows = json.loads(invoke("bins", "--db", str(db), "--json").output)
    first = rows[0]
    assert (first["config_desired_version"], first["config_reported_version"]) == (4, 4)
    assert first["config_reported_status"] == "rejected"
    assert first["health"] is None  # no health report yet
    assert first["offline_since"] is None


def test_config_push_checks_the_file_before_calling_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[intake]\nmin_confidence = 7\n")
    result = invoke("config", "push", str(bad), "--bin", "bin-001", "--api", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert f"{bad}: intake.min_confidence: Input should be less than or equal to 1" in (
        result.output
    )
    assert "cannot reach" not in result.output
    broker = tmp_path / "broker.toml"
    broker.write_text("[broker]\nhost = 'x'\n")
    result = invoke("config", "push", str(broker), "--region", "north", "--api", "http://x:9")
    assert result.exit_code == 1
    assert "broker: not remotely settable" in result.output
    neither = invoke("config", "push", str(bad))
    assert neither.exit_code == 2
    assert "exactly one of --bin and --region" in neither.output
    both = invoke("config", "push", str(bad), "--bin", "bin-001", "--region", "north")
    assert both.exit_code == 2


def test_cmd_refuses_unknown_commands_and_bad_arguments_before_sending() -> None:
    unknown = invoke("cmd", "bin-001", "reboot", "--api", "http://127.0.0.1:9")
    assert unknown.exit_code == 2
    assert "unknown command 'reboot'; known: ping, selftest" in unknown.output
    bad = invoke("cmd", "bin-001", "capture", "--arg", "save", "--api", "http://127.0.0.1:9")
    assert bad.exit_code == 2
    assert "'save' is not KEY=VALUE" in bad.output


def test_argument_values_are_json_where_they_parse() -> None:
    assert parse_args(("a=5", "b=true", "c=hello", 'd="5"', "e=[1, 2]", "f=NaN", "g=")) == {
        "a": 5,
        "b": True,
        "c": "hello",
        "d": "5",
        "e": [1, 2],
        "f": "NaN",
        "g": "",
    }
    with pytest.raises(click.BadParameter, match="given twice"):
        parse_args(("a=1", "a=2"))
    with pytest.raises(click.BadParameter, match="not KEY=VALUE"):
        parse_args(("=1",))
