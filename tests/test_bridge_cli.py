"""``bin-bridge``: JSON and table output, one-line errors, and ``run`` as a process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cloud_bridge.cli.main import cli
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from protocol import Pickup
from tests.support import bin_messages as msg
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A bridge database with two bins, one pickup and a rejection."""
    path = tmp_path / "bridge.db"
    store = SQLiteStore(path)
    processor = Processor(BridgeSettings(), store, lambda: NOW)
    batch = [
        msg.state("bin-001", 1, region="north"),
        msg.deposit("bin-001", 2, "glass", grams=500),
        msg.telemetry("bin-001", 3, 91.0),
        msg.telemetry("bin-002", 1, 12.0),
        ("bins/v1/bin-002/telemetry", b"garbage"),
    ]
    processor.process([Inbound(topic, payload) for topic, payload in batch])
    store.close()
    return path


def invoke(*args: str) -> click.testing.Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))


def test_bins_json_is_a_list_of_bin_objects(db: Path) -> None:
    result = invoke("bins", "--db", str(db), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["bin_id"] for row in rows] == ["bin-001", "bin-002"]
    first = rows[0]
    assert first["online"] is True
    assert first["fill_pct"] == 91.0
    assert first["last_seq"] == 3
    assert first["region"] == "north"
    assert first["location"] == {"lat": 52.5, "lon": 13.4}
    assert first["last_seen"] == "2026-11-23T09:00:00.000Z"
    assert rows[1]["online"] is False
    assert rows[1]["registered"] is False


def test_pickups_json_carries_the_pickup_message_fields(db: Path) -> None:
    result = invoke("pickups", "--db", str(db), "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert set(row) == set(Pickup.model_fields)
    pickup = Pickup.model_validate_json(json.dumps(row))
    assert pickup.bin_id == "bin-001"
    assert pickup.status == "requested"
    assert pickup.manifest["glass"].count == 1
    assert row["due_by"] == "2026-11-24T09:00:00.000Z"
    assert json.loads(invoke("pickups", "--db", str(db), "--json", "--open").output) == [row]


def test_stats_json_counts_messages_and_rejections(db: Path) -> None:
    result = invoke("stats", "--db", str(db), "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["messages"] == {"events/deposit": 1, "telemetry": 2}
    assert [(r["reason"], r["count"]) for r in stats["rejections"]] == [("malformed", 1)]
    assert stats["outbox"] == 1


def test_tables_for_people(db: Path) -> None:
    bins = invoke("bins", "--db", str(db))
    assert bins.exit_code == 0
    assert "bin-001" in bins.output
    assert "unregistered" in bins.output
    pickups = invoke("pickups", "--db", str(db))
    assert "glass 1/0.50 kg" in pickups.output
    stats = invoke("stats", "--db", str(db))
    assert "rejected malformed" in stats.output


@pytest.mark.parametrize("command", ["bins", "pickups", "stats"])
def test_a_missing_database_is_one_line_and_exit_1(tmp_path: Path, command: str) -> None:
    result = invoke(command, "--db", str(tmp_path / "nope.db"))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"bin-bridge: {tmp_path / 'nope.db'}: no bridge database here"
    ]


def test_a_bad_broker_url_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = invoke("run", "--broker", "mqtt://host:nine", "--db", str(tmp_path / "b.db"))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "bin-bridge: broker URL 'mqtt://host:nine': port 'nine' is not in 1..65535"
    ]


def test_an_unwritable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = invoke("run", "--broker", "mqtt://127.0.0.1:1", "--db", str(blocker / "b.db"))
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert str(blocker / "b.db") in result.output


def test_bin_reset_records_a_reset_for_the_bridge_to_apply(db: Path) -> None:
    result = invoke("bin", "reset", "bin-001", "--db", str(db), "--actor", "alice")
    assert result.exit_code == 0, result.output
    assert "reset 1 of bin-001 recorded" in result.output
    store = SQLiteStore(db)
    try:
        (reset,) = store.list_seq_resets(pending_only=True)
        assert (reset.bin_id, reset.actor) == ("bin-001", "alice")
        processor = Processor(BridgeSettings(), store, lambda: NOW)
        processor.tick()
        (applied,) = store.list_seq_resets()
        assert (applied.seq_offset, applied.applied_at) == (3, NOW)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("bin_id", "complaint"),
    [("bin-404", "bin bin-404 is not known to the bridge"), ("BIN 1", "not a valid bin id")],
)
def test_bin_reset_refuses_an_unknown_bin_in_one_line(
    db: Path, bin_id: str, complaint: str
) -> None:
    result = invoke("bin", "reset", bin_id, "--db", str(db))
    assert result.exit_code == 1
    assert complaint in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bin_reset_does_not_create_a_database(tmp_path: Path) -> None:
    result = invoke("bin", "reset", "bin-001", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 1
    assert "no bridge database here" in result.output
    assert not (tmp_path / "none.db").exists()


def test_every_command_has_help() -> None:
    assert isinstance(cli, click.Group)
    for name, command in cli.commands.items():
        assert command.help, f"bin-bridge {name} has no help"
        result = invoke(name, "--help")
        assert result.exit_code == 0
        assert command.help.splitlines()[0] in result.output


def test_run_stores_messages_and_stops_on_sigterm(tmp_path: Path, mosquitto: Mosquitto) -> None:
    db = tmp_path / "bridge.db"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from cloud_bridge.cli.main import main; main()",
            *("run", "--broker", mosquitto.url, "--db", str(db)),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        for line in process.stderr:
            lines.append(line)
            if "subscribed to" in line:
                break
        with Client(mosquitto.port) as publisher:
            publisher.publish(*msg.telemetry("bin-042", 7, 64.0))
            for line in process.stderr:
                lines.append(line)
                if "first message from unregistered bin bin-042" in line:
                    break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    rest = process.stderr.read()
    assert "received SIGTERM; stopping" in rest
    assert "bridge stopped" in rest
    result = invoke("bins", "--db", str(db), "--json")
    (row,) = json.loads(result.output)
    assert (row["bin_id"], row["last_seq"], row["fill_pct"]) == ("bin-042", 7, 64.0)


def test_an_api_port_in_use_is_one_line_and_exit_1(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(
            "run", "--broker", mosquitto.url, "--db", str(tmp_path / "b.db"),
            "--api-port", str(port),
        )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"bin-bridge: the API could not listen on 127.0.0.1:{port}: Address already in use"
    ]
