"""A technician's workflow end to end: the real agent on simulated devices, Mosquitto, the
bridge with its API, and ``bin-bridge`` on the command line.

Configuration: ``bin-bridge config push`` → API → bridge → retained ``config/desired``
→ agent → ``config/reported`` → bridge → ``bin-bridge config status``: applied,
rejected (naming the key), rolled back after a failing self-check, and an older
version ignored. Commands: ``bin-bridge cmd`` → API → bridge → ``cmd`` → agent →
``cmd/result`` → bridge → the waiting caller; an unknown command refused before
sending; an offline bin reported as a timeout, the command then answered ``ok:
false`` as expired when the bin returns. Tickets reach an outside MQTT subscriber,
a webhook and the API on the way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from cloud_bridge.cli.main import cli
from cloud_bridge.cli.technicians import TIMEOUT_EXIT_CODE
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.runtime import BridgeRuntime
from cloud_bridge.store.sqlite.store import SQLiteStore
from firmware_config import DeviceConfig
from tests.support.bins import SimulatedBin, bin_config, make_bin
from tests.support.collector import Collector, Received
from tests.support.fakes import ScriptedClassifier
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client
from tests.support.receiver import Receiver
from tests.support.remote import desired
from tests.support.waiting import eventually

TOKEN = "field-team-token"
HOOK_SECRET = "hook-secret"


@dataclass
class Field:
    """Everything a technician's session needs."""

    bridge: BridgeRuntime
    db: Path
    config: DeviceConfig
    port: int
    technicians: Collector
    hook: Receiver
    bins: list[SimulatedBin]

    @property
    def api(self) -> str:
        assert self.bridge.api is not None
        return self.bridge.api.url

    def cli(self, *args: str) -> Result:
        """``bin-bridge ARGS`` with the technician's token in the environment."""
        return CliRunner().invoke(cli, list(args), env={"REVLOOP_API_TOKEN": TOKEN})

    def json(self, *args: str) -> Any:
        result = self.cli(*args, "--db", str(self.db), "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def config_status(self) -> dict[str, Any]:
        (row,) = self.json("config", "status", "--bin", "bin-001")
        assert isinstance(row, dict)
        return row

    def start_bin(self) -> SimulatedBin:
        test_bin = make_bin(self.config, self.port, classifier=ScriptedClassifier())
        self.bins.append(test_bin)
        test_bin.agent.start()
        assert test_bin.agent.link.wait_connected(15)
        return test_bin

    def tickets(self, kind: str) -> list[dict[str, Any]]:
        return [m.json() for m in self.technicians.messages if m.json()["kind"] == kind]


@pytest.fixture
def field(mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Field]:
    monkeypatch.setenv("REVLOOP_HOOK_SECRET", HOOK_SECRET)
    hook = Receiver()
    hook.start()
    db = tmp_path / "bridge.db"
    settings = validate_settings(
        {
            "broker": {"url": mosquitto.url, "client_id": "tech-bridge", "backoff_min_s": 0.1},
            "store": {"path": str(db)},
            "api": {
                "port": 0,
                "tokens": [
                    {
                        "name": "field-team",
                        "role": "technician",
                        "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                    }
                ],
            },
            "timers": {"tick_s": 0.2, "poll_s": 0.05},
            "tickets": {"offline_grace_s": 1.0, "config_grace_s": 120},
            "commands": {"result_grace_s": 0.5},
            "webhooks": [
                {"name": "field", "url": hook.url, "secret_env": "REVLOOP_HOOK_SECRET",
                 "kinds": ["ticket"]},
            ],
            "delivery": {"poll_s": 0.05},
        }
    )  # fmt: skip
    # The bin's own file locks at 88 % and unlocks at 80 %.
    config = bin_config(tmp_path, thresholds="lock_fill_pct = 88\nunlock_fill_pct = 80")
    technicians = Collector(mosquitto.port, ["fleet/v1/tickets/#"])
    bridge = BridgeRuntime(settings)
    bridge.start()
    session = Field(bridge, db, config, mosquitto.port, technicians, hook, [])
    try:
        assert bridge.wait_ready(15)
        session.start_bin()
        eventually(lambda: _online(db), 15, "bin-001 registered and online")
        yield session
    finally:
        for test_bin in session.bins:
            test_bin.agent.stop()
        bridge.stop()
        technicians.close()
        hook.stop()


def _online(db: Path) -> bool:
    store = SQLiteStore(db, readonly=True)
    try:
        record = store.get_bin("bin-001")
    finally:
        store.close()
    return record is not None and record.online


def _ticket(messages: list[Received], kind: str, status: str) -> bool:
    return any(m.json()["kind"] == kind and m.json()["status"] == status for m in messages)


def test_configuration_push_applied_rejected_rolled_back_and_older_ignored(
    field: Field, tmp_path: Path
) -> None:
    runtime = field.bins[0].agent.runtime

    def push(name: str, text: str) -> Result:
        path = tmp_path / name
        path.write_text(text)
        return field.cli("config", "push", str(path), "--bin", "bin-001", "--api", field.api)

    # Applied.
    result = push("confidence.toml", "[intake]\nmin_confidence = 0.75\n")
    assert result.exit_code == 0, result.output
    assert "bin-001: version 1 pushed" in result.output
    eventually(lambda: field.config_status()["state"] == "applied", 15, "version 1 applied")
    assert runtime.config.intake.min_confidence == 0.75

    # A key the bridge can tell is wrong: refused before anything is sent.
    refused = push("typo.toml", "[intake]\nmin_confidense = 0.5\n")
    assert refused.exit_code == 1
    assert "intake.min_confidense: unknown key; did you mean 'min_confidence'?" in refused.output
    assert field.config_status()["desired_version"] == 1

    # Rejected by the bin: 90 % is a valid unlock level, but not under this bin's 88 % lock.
    assert push("unlock.toml", "[thresholds]\nunlock_fill_pct = 90\n").exit_code == 0
    eventually(lambda: field.config_status()["state"] == "rejected", 15, "version 2 rejected")
    status = field.config_status()
    assert (status["desired_version"], status["reported_version"]) == (2, 2)
    assert status["reported_error"].startswith("thresholds")
    assert "unlock_fill_pct" in status["reported_error"]
    assert status["flagged"] is True
    assert runtime.config.thresholds.unlock_fill_pct == 80
    messages = field.technicians.wait_for(lambda ms: _ticket(ms, "config_not_applied", "open"))
    (ticket,) = [m.json() for m in messages if m.json()["kind"] == "config_not_applied"]
    assert ticket["causes"] == ["v2/rejected"]
    assert "unlock_fill_pct" in ticket["detail"]

    # Rolled back: the schema accepts it, the bin's self-check does not.
    rollback = "[intake]\nsettle_readings = 20\nsettle_timeout_s = 1.5\n"
    assert push("settle.toml", rollback).exit_code == 0
    eventually(lambda: field.config_status()["state"] == "rolled_back", 15, "version 3 rolled back")
    assert field.config_status()["reported_error"].startswith("intake.settle_timeout_s")
    assert runtime.config.config_version == 1
    assert runtime.config.intake.settle_readings == 3
    field.technicians.wait_for(
        lambda ms: (
            [(t["causes"], t["status"]) for t in _of(ms, "config_not_applied")]
            == [
                (["v2/rejected"], "open"),
                (["v2/rejected"], "resolved"),
                (["v3/rolled_back"], "open"),
            ]
        )
    )

    # Someone publishes an older version by hand: the bin ignores it.
    with Client(field.port) as tool:
        older = desired(2, {"intake": {"min_confidence": 0.1}}, datetime.now(UTC))
        tool.publish("bins/v1/bin-001/config/desired", older, retain=True)
    assert push("again.toml", "[intake]\nmin_confidence = 0.8\n").exit_code == 0
    eventually(lambda: field.config_status()["state"] == "applied", 15, "version 4 applied")
    assert field.config_status()["reported_version"] == 4
    assert runtime.config.intake.min_confidence == 0.8
    reports = [json.loads(m.payload)["version"] for m in _stored(field.db, "config/reported")]
    assert reports == [1, 2, 3, 4]  # nothing about the older version
    field.technicians.wait_for(lambda ms: _of(ms, "config_not_applied")[-1]["status"] == "resolved")
    (row,) = [b for b in field.json("bins") if b["bin_id"] == "bin-001"]
    assert (row["config_desired_version"], row["config_reported_version"]) == (4, 4)
    assert row["config_reported_status"] == "applied"

    # The tickets also went to the webhook, signed, and are in the API.
    hooks = field.hook.wait_for(4)
    assert {h.headers["X-Revloop-Kind"] for h in hooks} == {"ticket"}
    for hook in hooks:
        signature = hmac.new(HOOK_SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
        assert hook.headers["X-Revloop-Signature"] == f"sha256={signature}"
    assert [json.loads(h.body)["status"] for h in hooks[:3]] == ["open", "resolved", "open"]
    listed = httpx.get(
        f"{field.api}/v1/tickets",
        params={"kind": "config_not_applied"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert [t["status"] for t in listed.json()] == ["resolved", "resolved"]


def _of(messages: list[Received], kind: str) -> list[dict[str, Any]]:
    return [m.json() for m in messages if m.json()["kind"] == kind]


def _stored(db: Path, kind: str) -> list[Any]:
    store = SQLiteStore(db, readonly=True)
    try:
        return [m for m in store.stored_messages("bin-001") if m.kind == kind]
    finally:
        store.close()


def test_commands_answered_refused_and_timed_out_then_answered_as_expired(
    field: Field,
) -> None:
    ping = field.cli("cmd", "bin-001", "ping", "--api", field.api)
    assert ping.exit_code == 0, ping.output
    assert "bin-001 ping" in ping.output
    assert ": ok" in ping.output
    assert '"uptime_s"' in ping.output

    capture = field.cli(
        "cmd", "bin-001", "capture", "--arg", "thumbnail=true", "--api", field.api, "--json"
    )
    assert capture.exit_code == 0, capture.output
    row = json.loads(capture.output)
    assert (row["status"], row["args"]) == ("ok", {"thumbnail": True})
    assert row["result"]["width"] > 0
    assert "thumbnail_jpeg_base64" in row["result"]

    unknown = field.cli("cmd", "bin-001", "dance", "--api", field.api)
    assert unknown.exit_code == 2
    assert "unknown command 'dance'" in unknown.output
    assert [c["name"] for c in field.json("commands")] == ["capture", "ping"]

    # The bin goes away: an offline ticket after the grace, and commands time out.
    field.bins[0].agent.stop()
    field.bins.clear()
    field.technicians.wait_for(lambda ms: _ticket(ms, "offline", "open"))
    lost = field.cli("cmd", "bin-001", "ping", "--ttl", "2", "--wait", "1", "--api", field.api)
    assert lost.exit_code == TIMEOUT_EXIT_CODE
    assert lost.stderr.startswith("bin-bridge: warning: bin bin-001 is offline since")
    assert "timed out: no answer from bin-001 to ping" in lost.output
    eventually(
        lambda: field.json("commands", "--bin", "bin-001")[0]["status"] == "timed_out",
        15,
        "the bridge gives the command up",
    )

    # The bin returns: the broker hands it the queued command, now expired; it refuses it.
    field.start_bin()
    field.technicians.wait_for(lambda ms: _ticket(ms, "offline", "resolved"))
    eventually(
        lambda: field.json("commands", "--bin", "bin-001")[0]["status"] == "failed",
        15,
        "the late answer recorded",
    )
    late = field.json("commands", "--bin", "bin-001")[0]
    assert late["name"] == "ping"
    assert late["error"].startswith("expired at")
    assert late["timed_out_at"] is not None
    assert late["answered_at"] > late["timed_out_at"]
    (offline,) = [t for t in field.tickets("offline") if t["status"] == "open"]
    (back,) = [t for t in field.tickets("offline") if t["status"] == "resolved"]
    assert offline["ticket_id"] == back["ticket_id"]
    assert offline["causes"] == ["shutdown"]
