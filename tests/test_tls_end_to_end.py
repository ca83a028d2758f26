"""The agent and the bridge end to end through a Mosquitto running the generated TLS and
ACL configuration, each with its own certificate: telemetry in, a remote command and a
remote configuration out, their results and report back to the bridge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.records import BinRecord
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.store.sqlite.store import SQLiteStore
from tests.support.bins import bin_config, make_bin
from tests.support.fakes import ScriptedClassifier
from tests.support.mosquitto import mosquitto_binary
from tests.support.remote import command, desired
from tests.support.tls import Deployment, TlsClient, start_deployment
from tests.support.waiting import eventually


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: apt-get install mosquitto (see README)")
    deployed = start_deployment(tmp_path)
    yield deployed
    deployed.stop()


def stored(bridge: Bridge, kind: str) -> list[dict[str, object]]:
    return [
        json.loads(m.payload) for m in bridge.store.stored_messages("bin-001") if m.kind == kind
    ]


def _bin(tmp_path: Path) -> BinRecord:
    reader = SQLiteStore(tmp_path / "bridge.db", readonly=True)
    try:
        record = reader.get_bin("bin-001")
    finally:
        reader.close()
    assert record is not None
    return record


def test_agent_and_bridge_through_the_tls_broker(deployment: Deployment, tmp_path: Path) -> None:
    bridge_id = deployment.bridge()
    settings = validate_settings(
        {
            "broker": {
                "url": f"mqtts://127.0.0.1:{deployment.port}",
                "client_id": "revloop-bridge",
                "ca_file": str(bridge_id.ca),
                "cert_file": str(bridge_id.cert),
                "key_file": str(bridge_id.key),
                "backoff_min_s": 0.1,
            },
            "store": {"path": str(tmp_path / "bridge.db")},
        }
    )
    bin_id = deployment.bin("bin-001")
    config = bin_config(
        tmp_path,
        intervals="telemetry_s = 2\nfill_sample_s = 1",
        **{
            "broker.tls": (
                f'enabled = true\nca_file = "{bin_id.ca}"\n'
                f'cert_file = "{bin_id.cert}"\nkey_file = "{bin_id.key}"'
            )
        },
    )
    test_bin = make_bin(config, deployment.port, classifier=ScriptedClassifier())
    bridge = Bridge(settings)
    try:
        test_bin.agent.start()
        assert test_bin.agent.link.wait_connected(15)
        # A technician's tool with the bridge's identity sends a command and a
        # configuration, and hears the answer. The broker binds the client id to the
        # certificate, so an identity is one connection at a time: the tool runs while
        # the bridge does not (it would otherwise take over the bridge's session).
        with TlsClient(deployment.port, bridge_id, client_id="technician") as tool:
            assert tool.connect()
            tool.subscribe("bins/v1/bin-001/cmd/result")
            now = datetime.now(UTC)
            cid, payload = command("ping", now)
            tool.publish("bins/v1/bin-001/cmd", payload)
            tool.publish(
                "bins/v1/bin-001/config/desired",
                desired(1, {"intake": {"min_confidence": 0.75}}, now),
                retain=True,
            )
            answer = json.loads(tool.next(20).payload)
            assert (answer["id"], answer["ok"]) == (cid, True)
        eventually(
            lambda: test_bin.agent.runtime.config.intake.min_confidence == 0.75, 20, "applied"
        )

        # config/reported is retained: a client connecting later still learns it.
        with TlsClient(deployment.port, bridge_id, client_id="late-reader") as late:
            assert late.connect()
            late.subscribe("bins/v1/bin-001/config/reported")
            message = late.next()
            assert message.retain
            assert json.loads(message.payload)["version"] == 1

        bridge.start()
        assert bridge.wait_ready(15)
        eventually(lambda: len(stored(bridge, "telemetry")) >= 1, 20, "telemetry stored")
        # The bridge's acks reach the bin through the generated ACL: what was sent while
        # the bridge was away is confirmed and leaves the outbox.
        eventually(lambda: test_bin.agent.link.confirmations.acks_received >= 1, 20, "acks")
        eventually(lambda: test_bin.agent.outbox.stats().unconfirmed_oldest_s < 5, 20, "confirmed")
        (record,) = bridge.store.load_bins()
        assert record.bin_id == "bin-001"
        assert record.online
        eventually(lambda: len(stored(bridge, "config/reported")) == 1, 20, "config report")
        (report,) = stored(bridge, "config/reported")
        assert (report["version"], report["status"]) == (1, "applied")
        eventually(lambda: bridge.store.load_bins()[0].config_version == 1, 10, "version")

        # The bridge itself, under its own identity, sends a command and pushes a
        # configuration (retained): the ACL lets it write both.
        sent = bridge.send_command("bin-001", "ping", {}, 30, "tech")
        assert bridge.wait_command(sent.command_id, 20)
        (pushed,) = bridge.push_config({"intake": {"min_confidence": 0.8}}, bin_id="bin-001",
                                       actor="tech")  # fmt: skip
        assert pushed.version == 2
        eventually(lambda: _bin(tmp_path).reported_version == 2, 20, "version 2 reported")
        reader = SQLiteStore(tmp_path / "bridge.db", readonly=True)
        try:
            answered = reader.get_command(sent.command_id)
        finally:
            reader.close()
        assert answered is not None
        assert answered.status == "ok"
        assert _bin(tmp_path).reported_status == "applied"
        assert test_bin.agent.runtime.config.intake.min_confidence == 0.8
    finally:
        test_bin.agent.stop()
        bridge.stop()
