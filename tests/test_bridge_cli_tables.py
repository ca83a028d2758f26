"""``bin-bridge``'s tables for people stay readable: in a 60 column terminal every id is
whole and nothing is cut short, piped into another program every row stays on one line,
every date carries its month; ``bins`` filters by region and presence and shows each
bin's health; ``commands`` is a table."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.table import Table

from cloud_bridge.cli.main import cli
from cloud_bridge.cli.output import print_table
from cloud_bridge.cli.tables import (
    bins_table,
    commands_table,
    pickups_table,
    tickets_table,
)
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from cloud_bridge.views.rows import command_row
from tests.support import bin_messages as msg

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LONG_BIN = "bin-north-riverside-0042"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Three bins: one full with a failed camera, one offline, one in the south."""
    path = tmp_path / "bridge.db"
    store = SQLiteStore(path)
    processor = Processor(validate_settings({}), store, lambda: NOW)
    processor.process(
        [
            Inbound(*msg.state(LONG_BIN, 1, region="north")),
            Inbound(*msg.telemetry(LONG_BIN, 2, 93.0)),
            Inbound(
                *msg.health(
                    LONG_BIN,
                    3,
                    outbox_depth=17,
                    sensors={"camera": "failed", "ultrasonic": "degraded", "loadcell": "ok"},
                )
            ),
            Inbound(*msg.fault(LONG_BIN, 4, "camera", "absent", detail="no frame")),
            Inbound(*msg.state("bin-002", 1, region="north")),
            Inbound(*msg.state("bin-002", 2, online=False, bd_seq=1)),
            Inbound(*msg.state("bin-003", 1, region="south")),
            Inbound(*msg.health("bin-003", 2)),
        ]
    )
    processor.run(lambda: processor.send_command(LONG_BIN, "ping", {}, 30, "tech"))
    store.close()
    return path


def invoke(*args: str) -> click.testing.Result:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def tables(db: Path) -> dict[str, tuple[Table, list[str]]]:
    """Each table with the ids a person copies out of it."""
    store = SQLiteStore(db, readonly=True)
    try:
        bins = store.load_bins()
        pickups = store.list_pickups()
        tickets = store.list_tickets()
        commands = [command_row(c) for c in store.list_commands()]
        forecasts = store.load_forecasts()
    finally:
        store.close()
    assert pickups
    assert tickets
    return {
        "bins": (bins_table(bins, forecasts), [b.bin_id for b in bins]),
        "pickups": (pickups_table(pickups), [p.pickup_id for p in pickups]),
        "tickets": (tickets_table(tickets), [t.ticket_id for t in tickets]),
        "commands": (commands_table(commands), [c["id"] for c in commands]),
    }


@pytest.mark.parametrize("name", ["bins", "pickups", "tickets", "commands"])
def test_in_a_narrow_terminal_ids_are_whole_and_nothing_is_cut(db: Path, name: str) -> None:
    table, ids = tables(db)[name]
    console = Console(width=60, record=True, color_system=None)
    print_table(table, console)
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 60
    assert "…" not in text
    for identifier in ids:
        assert any(identifier in line for line in lines), f"{identifier} is not whole"


def test_a_wide_terminal_gets_a_table_with_a_header(db: Path) -> None:
    table, _ = tables(db)["bins"]
    console = Console(width=200, record=True, color_system=None)
    print_table(table, console)
    lines = console.export_text().splitlines()
    header = next(line for line in lines if "region" in line)
    for column in ("bin", "online", "fill %", "sensors", "outbox", "last seen"):
        assert column in header
    (row,) = [line for line in lines if LONG_BIN in line]
    assert "camera failed, ultrasonic degraded" in row
    assert " 17 " in row  # outbox depth


def test_piped_output_keeps_each_row_on_one_line(db: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cloud_bridge.cli.main import main; main()",
            *("pickups", "--db", str(db)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    (row,) = [line for line in result.stdout.splitlines() if LONG_BIN in line]
    for whole in ("north", "requested", "2026-11-24 09:00"):
        assert whole in row
    assert "…" not in result.stdout
    assert "\x1b[" not in result.stdout  # no colour codes into a pipe


def test_dates_carry_their_month(db: Path) -> None:
    text = invoke("tickets", "--db", str(db)).output + invoke("commands", "--db", str(db)).output
    assert "2026-11-23 09:00" in text
    # no weekday-and-day-only dates ("Mon 23 14:00") anywhere
    assert not re.search(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{2} \d{2}:\d{2}", text)


def test_bins_filter_by_region_and_presence(db: Path) -> None:
    def listed(*args: str) -> list[str]:
        rows = json.loads(invoke("bins", "--db", str(db), "--json", *args).output)
        return [row["bin_id"] for row in rows]

    assert listed() == ["bin-002", "bin-003", LONG_BIN]
    assert listed("--region", "north") == ["bin-002", LONG_BIN]
    assert listed("--offline") == ["bin-002"]
    assert listed("--online", "--region", "north") == [LONG_BIN]
    table = invoke("bins", "--db", str(db), "--region", "south").output
    assert "bin-003" in table
    assert "bin-002" not in table
    (row,) = json.loads(invoke("bins", "--db", str(db), "--json", "--region", "south").output)
    assert row["health"]["outbox_depth"] == 0  # JSON unchanged: health was there already


def test_commands_is_a_table(db: Path) -> None:
    lines = invoke("commands", "--db", str(db)).output.splitlines()
    header = next(line for line in lines if "status" in line)
    for column in ("issued", "id", "bin", "name", "status", "actor", "outcome"):
        assert column in header
    (row,) = [line for line in lines if "ping" in line]
    assert LONG_BIN in row
    assert "pending" in row
    assert re.search(r"cmd-[0-9a-f]{20}", row)
