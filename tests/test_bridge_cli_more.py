"""``bin-bridge`` read commands for schedulers: forecasts, history, manifest, deposits,
routes, webhook deliveries and CSV exports (the write commands are tested through a
real API in ``test_api.py``)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cloud_bridge.cli.main import cli
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from tests.support import bin_messages as msg

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Two bins; bin-001 filling steadily for 5 hours to 80 % (a pickup); one dead letter."""
    path = tmp_path / "bridge.db"
    store = SQLiteStore(path)
    settings = validate_settings({"forecast": {"interval_s": 0}})
    processor = Processor(settings, store, lambda: NOW)
    batch = [msg.state("bin-001", 1, region="north"), msg.deposit("bin-001", 2, "glass")]
    processor.process([Inbound(topic, payload) for topic, payload in batch])
    for step in range(31):
        at = NOW - timedelta(minutes=10 * (30 - step))
        processor.process([Inbound(*_reading("bin-001", 10 + step, 70 + step / 3, at))])
    processor.process([Inbound(*msg.telemetry("bin-002", 1, 12.0))])
    processor.tick()
    with store.transaction():
        dead = store.queue_delivery("dispatch", "pickup", "pk-x", b"{}", NOW)
        store.record_attempt(
            dead, at=NOW, state="dead", status=None, error="ConnectError", next_attempt_at=NOW
        )
        store.queue_delivery("dispatch", "pickup", "pk-y", b"{}", NOW)
    store.close()
    return path


def _reading(bin_id: str, seq: int, fill: float, at: datetime) -> tuple[str, bytes]:
    topic, payload = msg.telemetry(bin_id, seq, fill)
    data = json.loads(payload)
    data["ts"] = at.isoformat().replace("+00:00", "Z")
    return topic, json.dumps(data).encode()


def invoke(*args: str) -> click.testing.Result:
    return CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))


def test_bins_json_gains_the_predicted_full_time(db: Path) -> None:
    rows = json.loads(invoke("bins", "--db", str(db), "--json").output)
    first = rows[0]
    assert first["forecast_method"] == "linear"
    assert first["fill_rate_pct_per_h"] == pytest.approx(2.0, abs=0.05)
    predicted = datetime.fromisoformat(first["predicted_full_at"].replace("Z", "+00:00"))
    assert abs(predicted - (NOW + timedelta(hours=7.5))) < timedelta(minutes=30)
    assert first["forecast_low"] <= first["predicted_full_at"] <= first["forecast_high"]
    assert rows[1]["predicted_full_at"] is None
    table = invoke("bins", "--db", str(db))
    assert "linear" in table.output


def test_forecast_history_and_manifest(db: Path) -> None:
    forecast = json.loads(invoke("forecast", "bin-001", "--db", str(db), "--json").output)
    assert forecast["forecast"]["points"] == 31
    assert "method linear" in invoke("forecast", "bin-001", "--db", str(db)).output
    assert invoke("forecast", "bin-404", "--db", str(db)).exit_code == 1
    history = json.loads(
        invoke("history", "bin-001", "--db", str(db), "--json", "--limit", "5").output
    )
    assert [p["seq"] for p in history] == [36, 37, 38, 39, 40]
    bad = invoke("history", "bin-001", "--db", str(db), "--from", "noon")
    assert bad.exit_code == 2
    assert "--from" in bad.output
    manifest = json.loads(invoke("manifest", "bin-001", "--db", str(db), "--json").output)
    assert manifest["manifest"] == {"glass": {"count": 1, "kg": 0.25}}


def test_deposits_and_webhook_deliveries(db: Path) -> None:
    deposits = json.loads(invoke("deposits", "--db", str(db), "--json").output)
    assert [(d["bin_id"], d["category"]) for d in deposits] == [("bin-001", "glass")]
    assert "glass" in invoke("deposits", "--db", str(db)).output
    dead = json.loads(invoke("webhooks", "--db", str(db), "--dead", "--json").output)
    assert [(d["key"], d["state"], d["last_error"]) for d in dead] == [
        ("pk-x", "dead", "ConnectError")
    ]
    everything = json.loads(invoke("webhooks", "--db", str(db), "--json").output)
    assert [d["key"] for d in everything] == ["pk-y", "pk-x"]
    assert "dead" in invoke("webhooks", "--db", str(db)).output


def test_routes_json_and_table(db: Path, tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text(
        f'[store]\npath = "{db}"\n[routing]\ntime_limit_s = 0.5\n'
        "[routing.regions.north]\ndepot = { lat = 52.45, lon = 13.3 }\nvehicles = 2\n"
    )
    start = NOW.isoformat()
    plan = json.loads(invoke("routes", "--region", "north", "--config", str(config), "--json",
                             "--start", start).output)  # fmt: skip
    (vehicle,) = plan["vehicles"]
    assert vehicle["stops"][0]["bin_id"] == "bin-001"
    assert vehicle["stops"][0]["volume_l"] == pytest.approx(240 * 80 / 100, abs=1)
    table = invoke("routes", "--region", "north", "--config", str(config), "--start", start)
    assert "bin-001" in table.output
    unknown = invoke("routes", "--region", "south", "--config", str(config))
    assert unknown.exit_code == 1
    assert "routing.regions.south" in unknown.output


def test_exports_write_csv_for_a_date_range(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "pickups.csv"
    result = invoke("export", "pickups", "--db", str(db), "--from", "2026-11-23", "--to",
                    "2026-11-23", "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = list(csv.DictReader(io.StringIO(out.read_text())))
    assert (row["bin_id"], row["status"], row["glass_count"]) == ("bin-001", "requested", "1")
    deposits = invoke("export", "deposits", "--db", str(db), "--from", "2026-11-01", "--to",
                      "2026-11-30")  # fmt: skip
    assert deposits.output.splitlines()[0].startswith("bin_id,seq,deposit_id")
    none = invoke("export", "deposits", "--db", str(db), "--from", "2026-12-01", "--to",
                  "2026-12-31")  # fmt: skip
    assert len(none.output.splitlines()) == 1
    backwards = invoke("export", "pickups", "--db", str(db), "--from", "2026-11-30", "--to",
                       "2026-11-01")  # fmt: skip
    assert backwards.exit_code == 2
    assert "--to" in backwards.output
    beyond = invoke("export", "deposits", "--db", str(db), "--from", "2026-11-01", "--to",
                    "9999-12-31")  # fmt: skip
    assert beyond.exit_code == 2
    assert "--to" in beyond.output
    assert "out of range" in beyond.output


def test_write_commands_need_an_api_and_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REVLOOP_API_URL", raising=False)
    monkeypatch.delenv("REVLOOP_API_TOKEN", raising=False)
    no_url = invoke("pickup", "ack", "pk-1")
    assert no_url.exit_code == 1
    assert "REVLOOP_API_URL" in no_url.output
    no_token = invoke("pickup", "ack", "pk-1", "--api", "http://127.0.0.1:9")
    assert no_token.exit_code == 1
    assert "REVLOOP_API_TOKEN" in no_token.output
    monkeypatch.setenv("REVLOOP_API_TOKEN", "t")
    down = invoke("webhooks", "retry", "3", "--api", "http://127.0.0.1:9")
    assert down.exit_code == 1
    assert "cannot reach the API" in down.output
    huge = invoke("webhooks", "retry", str(2**63), "--api", "http://127.0.0.1:9")
    assert huge.exit_code == 2
    assert "DELIVERY_ID" in huge.output
