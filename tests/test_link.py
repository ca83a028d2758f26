"""The agent's MQTT link against a real Mosquitto: birth, Will, outbox order, outages."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from agent.clock import ManualClock
from agent.link.connection import MqttLink
from agent.storage.outbox import counter_origin
from protocol import decode_bin_message
from protocol.messages import AlarmEvent, State
from tests.support.bins import SimulatedBin, bin_config, make_bin
from tests.support.collector import Collector, Received
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import eventually


def states(messages: list[Received]) -> list[State]:
    found = []
    for m in messages:
        if m.topic.endswith("/state"):
            _, state = decode_bin_message(m.topic, m.payload)
            assert isinstance(state, State)
            found.append(state)
    return found


def seqs_of(messages: list[Received], suffix: str) -> list[int]:
    return [int(m.json()["seq"]) for m in messages if m.topic.endswith(suffix)]


def test_birth_outbox_order_and_graceful_death(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with Collector(mosquitto.port, ["bins/v1/#"]) as seen:
        test_bin = make_bin(bin_config(tmp_path), mosquitto.port, clock=ManualClock())
        agent = test_bin.agent
        base = agent.outbox.last_seq
        for i in range(50):
            agent.runtime.set_alarm("tamper", i % 2 == 0, f"test {i}")
        agent.start_link()
        seen.wait_for(lambda ms: len(seqs_of(ms, "events/alarm")) == 50)
        births = states(seen.messages)
        assert births[0].online
        assert births[0].reason == "connect"
        assert births[0].region == "north"
        assert seqs_of(seen.messages, "events/alarm") == list(range(base + 1, base + 51))
        agent.link.wait_connected(5)
        # every row the broker acknowledged waits for the bridge (none runs here)
        eventually(lambda: agent.outbox.stats().unconfirmed == 50)
        assert agent.outbox.stats().depth == 50
        bd_seq = births[0].bd_seq
        agent.stop()
        final = seen.wait_for(lambda ms: any(not s.online for s in states(ms)))
        death = next(s for s in states(final) if not s.online)
        assert death.reason == "shutdown"
        assert death.bd_seq == bd_seq


def test_will_carries_the_births_bd_seq(mosquitto: Mosquitto, tmp_path: Path) -> None:
    test_bin = make_bin(bin_config(tmp_path), mosquitto.port)
    with Collector(mosquitto.port, ["bins/v1/+/state"]) as seen:
        test_bin.agent.start_link()
        seen.wait_for(lambda ms: any(s.online for s in states(ms)))
        test_bin.agent.link.kill()
        final = seen.wait_for(lambda ms: any(not s.online for s in states(ms)))
        birth = next(s for s in states(final) if s.online)
        will = next(s for s in states(final) if not s.online)
        assert will.reason == "lost"
        assert will.bd_seq == birth.bd_seq
    test_bin.agent.db.close()
    test_bin.agent.instance_lock.release()


def test_first_connection_is_retried(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    test_bin = make_bin(bin_config(tmp_path), broker.port)
    first_bd_seq = test_bin.agent.link.status().bd_seq
    base = test_bin.agent.outbox.last_seq
    test_bin.agent.runtime.set_alarm("tilt", True, "before any broker")
    test_bin.agent.start_link()  # nothing listens yet
    try:
        with broker:
            with Collector(broker.port, ["bins/v1/#"]) as seen:
                seen.wait_for(
                    lambda ms: (
                        seqs_of(ms, "events/alarm") == [base + 1]
                        and any(s.online for s in states(ms))
                    )
                )
                connected = [s for s in states(seen.messages) if s.online]
                # every failed attempt armed a fresh Will; the birth carries the latest bd_seq
                assert connected[-1].bd_seq >= first_bd_seq + 2
            test_bin.agent.stop()
    finally:
        broker.stop()


def test_broker_outage_loses_nothing_and_keeps_seq_contiguous(tmp_path: Path) -> None:
    persisted = f"persistence true\npersistence_location {tmp_path}/\nautosave_interval 1\n"
    broker = Mosquitto(tmp_path, extra_config=persisted)
    broker.start()
    test_bin = make_bin(bin_config(tmp_path), broker.port)
    agent = test_bin.agent
    b = agent.outbox.last_seq
    seen = Collector(broker.port, ["bins/v1/bin-001/events/#"], client_id="outage-collector")
    try:
        agent.start_link()
        for i in range(30):
            agent.runtime.emit_event("alarm", {"kind": "tamper", "active": True, "detail": f"a{i}"})
        seen.wait_for(lambda ms: len(ms) >= 30)
        broker.stop()
        for i in range(30, 60):
            agent.runtime.emit_event("alarm", {"kind": "tamper", "active": True, "detail": f"a{i}"})
        assert agent.outbox.stats().depth >= 30
        broker.start()
        received = seen.wait_for(
            lambda ms: {int(m.json()["seq"]) - b for m in ms} >= set(range(1, 61))
        )
        unique: dict[int, str | None] = {}
        for m in received:
            _, event = decode_bin_message(m.topic, m.payload)
            assert isinstance(event, AlarmEvent)
            unique.setdefault(event.seq - b, event.detail)
        assert sorted(unique) == list(range(1, 61))
        assert [unique[s] for s in range(1, 61)] == [f"a{i}" for i in range(60)]
        eventually(lambda: agent.outbox.stats().unconfirmed == agent.outbox.stats().depth)
        assert agent.link.status().reconnects >= 1
    finally:
        seen.close()
        agent.stop()
        broker.stop()


def test_mqtt5_connection_carries_the_same_contract(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = bin_config(tmp_path)
    config.broker.protocol = "5"
    test_bin = make_bin(config, mosquitto.port)
    base = test_bin.agent.outbox.last_seq
    with Collector(mosquitto.port, ["bins/v1/#"]) as seen:
        test_bin.agent.runtime.set_alarm("tamper", True, "over MQTT 5")
        test_bin.agent.start_link()
        seen.wait_for(
            lambda ms: (
                seqs_of(ms, "events/alarm") == [base + 1] and any(s.online for s in states(ms))
            )
        )
        test_bin.agent.link.kill()
        final = seen.wait_for(lambda ms: any(not s.online for s in states(ms)))
        will = next(s for s in states(final) if not s.online)
        assert will.reason == "lost"
    test_bin.agent.db.close()
    test_bin.agent.instance_lock.release()


class FakePaho:
    """Stands in for paho's client: records what the link hands it, acks nothing."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int]] = []
        self.wills: list[bytes] = []
        self.link: MqttLink | None = None
        self.connected_when_published: list[bool] = []

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Any:
        mid = len(self.published) + 1
        self.published.append((topic, payload, mid))
        if self.link is not None:
            self.connected_when_published.append(self.link.status().connected)
        return SimpleNamespace(mid=mid, rc=MQTTErrorCode.MQTT_ERR_SUCCESS)

    def subscribe(self, topic: str, qos: int = 0) -> None:
        pass

    def will_set(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self.wills.append(payload)

    def reconnect_delay_set(self, min_delay: int, max_delay: int) -> None:
        pass


def puback(code: int) -> ReasonCode:
    return ReasonCode(PacketTypes.PUBACK, identifier=code)


def connected_link(test_bin: SimulatedBin) -> tuple[MqttLink, FakePaho]:
    link = test_bin.agent.link
    fake = FakePaho()
    fake.link = link
    link.client = cast(mqtt.Client, fake)
    link._on_connect(link.client, None, cast(mqtt.ConnectFlags, None), puback(0), None)
    return link, fake


def test_the_birth_is_handed_to_paho_before_the_publisher_may_send(tmp_path: Path) -> None:
    # The publisher thread sends outbox rows as soon as the link is marked connected;
    # the birth must be queued before that, or telemetry can reach the bridge first.
    test_bin = make_bin(bin_config(tmp_path), port=1, clock=ManualClock())
    link, fake = connected_link(test_bin)
    assert [topic.rsplit("/", 1)[-1] for topic, _, _ in fake.published] == ["state"]
    assert fake.connected_when_published == [False]
    assert link.status().connected
    test_bin.agent.db.close()
    test_bin.agent.instance_lock.release()


def test_callbacks_never_wait_for_the_disk(tmp_path: Path) -> None:
    test_bin = make_bin(bin_config(tmp_path), port=1, clock=ManualClock())
    agent = test_bin.agent
    link, fake = connected_link(test_bin)
    agent.runtime.set_alarm("tamper", True, "to be acknowledged")
    link._publish_once()
    mid = fake.published[-1][2]
    release = threading.Event()
    building = threading.Event()

    def slow_build(seq: int) -> bytes:
        building.set()
        release.wait(10)
        return b"{}"

    # The agent thread is inside a commit: it holds the outbox's and the database's
    # locks (as during an fsync) while paho's thread runs every callback.
    writer = threading.Thread(
        target=lambda: agent.outbox.append("t", slow_build, droppable=True), daemon=True
    )
    writer.start()
    assert building.wait(5)

    acked = agent.outbox.last_seq
    ack = {"v": 1, "ranges": [[acked, acked]], "ts": "2026-11-21T10:00:00.000Z"}

    def callbacks() -> None:
        # The callbacks of a live connection (arming the next Will after a disconnect
        # writes its bd_seq first: see test_bd_seq_is_persisted_before_its_will_is_armed).
        link._on_connect(link.client, None, cast(mqtt.ConnectFlags, None), puback(0), None)
        link._on_publish(link.client, None, mid, puback(0), None)
        message = mqtt.MQTTMessage(topic=b"bins/v1/bin-001/cmd")
        message.payload = b"{}"
        link._on_message(link.client, None, message)
        confirmation = mqtt.MQTTMessage(topic=b"bins/v1/bin-001/ack")
        confirmation.payload = json.dumps(ack).encode()
        link._on_message(link.client, None, confirmation)

    with agent.db.transaction():
        paho_thread = threading.Thread(target=callbacks, daemon=True)
        paho_thread.start()
        paho_thread.join(5)
        blocked = paho_thread.is_alive()
    release.set()
    writer.join(5)
    assert not blocked, "a paho callback waited for the database"
    # The publisher thread does the writes afterwards: the row the bridge confirmed
    # goes, the state is kept.
    link._publish_once()
    assert agent.outbox.stats().depth == 1  # only the row stored meanwhile
    assert agent.db.get("link")["connected"] is True
    agent.db.close()
    agent.instance_lock.release()


def test_bd_seq_is_persisted_before_its_will_is_armed(tmp_path: Path) -> None:
    clock = ManualClock()
    test_bin = make_bin(bin_config(tmp_path), port=1, clock=clock)
    link = test_bin.agent.link
    db = test_bin.agent.db
    # A fresh database starts from the clock (the bridge ignores births that are not
    # newer than the last it saw from this bin, e.g. before an SD card was replaced).
    origin = counter_origin(clock)
    assert link.status().bd_seq == origin
    armed: list[tuple[int, int]] = []  # (bd_seq in the Will, bd_seq on disk) at arming

    class DiskCheckingPaho(FakePaho):
        def will_set(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
            armed.append((json.loads(payload)["bd_seq"], db.get("bd_seq")))

    link.client = cast(mqtt.Client, DiskCheckingPaho())
    for _ in range(3):  # failed attempts, then a lost connection, in paho's callbacks
        link._on_connect_fail(link.client, None)
    link._on_disconnect(link.client, None, cast(mqtt.DisconnectFlags, None), puback(0), None)
    assert armed == [(origin + n, origin + n) for n in range(1, 5)]
    db.close()
    test_bin.agent.instance_lock.release()
    # A restart goes on at the next value: +1 on every connection attempt, none reused.
    again = make_bin(bin_config(tmp_path), port=1, clock=clock)
    assert again.agent.link.status().bd_seq == origin + 4
    again.agent.db.close()
    again.agent.instance_lock.release()


def test_a_negative_puback_keeps_the_row_for_a_retry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.link.connection")
    clock = ManualClock()
    config = bin_config(tmp_path)
    config.broker.protocol = "5"
    config.broker.backoff_max_s = 60.0  # the longest delay between two attempts
    test_bin = make_bin(config, port=1, clock=clock)
    agent = test_bin.agent
    link, fake = connected_link(test_bin)
    link.refused_retry_s = 10.0
    agent.runtime.emit_event("alarm", {"kind": "tamper", "active": True, "detail": "x"})
    link._publish_once()
    topic, payload, mid = fake.published[-1]
    assert topic.endswith("events/alarm")
    link._on_publish(link.client, None, mid, puback(0x87), None)  # Not authorized
    link._publish_once()
    assert agent.outbox.stats().depth >= 1
    assert [r.payload for r in agent.outbox.pending(0, 10)].count(payload) == 1
    assert "0x87" in caplog.text
    assert "Not authorized" in caplog.text
    sent = len(fake.published)
    link._publish_once()
    assert len(fake.published) == sent  # not before the backoff
    clock.advance(10)
    link._publish_once()
    assert fake.published[sent][1] == payload  # the same message again
    link._on_publish(link.client, None, fake.published[sent][2], puback(0x97), None)
    assert "retrying in 20 s" in caplog.text  # refused again: the delay doubles
    clock.advance(20)
    link._publish_once()
    assert fake.published[sent + 1][1] == payload
    link._on_publish(link.client, None, fake.published[sent + 1][2], puback(0), None)
    link._publish_once()
    # The broker took it: it waits for the bridge's confirmation.
    assert payload in [r.payload for r in agent.outbox.pending(0, 10)]
    seq = json.loads(payload)["seq"]
    confirmation = mqtt.MQTTMessage(topic=b"bins/v1/bin-001/ack")
    confirmation.payload = json.dumps(
        {"v": 1, "ranges": [[seq, seq]], "ts": "2026-11-21T10:00:00.000Z"}
    ).encode()
    link._on_message(link.client, None, confirmation)
    link._publish_once()
    assert payload not in [r.payload for r in agent.outbox.pending(0, 10)]
    agent.db.close()
    agent.instance_lock.release()
