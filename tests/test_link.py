"""The agent's MQTT link against a real Mosquitto: birth, Will, outbox order, outages."""

from __future__ import annotations

from pathlib import Path

from agent.clock import ManualClock
from protocol import decode_bin_message
from protocol.messages import AlarmEvent, State
from tests.support.bins import bin_config, make_bin
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
        for i in range(50):
            agent.runtime.set_alarm("tamper", i % 2 == 0, f"test {i}")
        agent.start_link()
        seen.wait_for(lambda ms: len(seqs_of(ms, "events/alarm")) == 50)
        births = states(seen.messages)
        assert births[0].online
        assert births[0].reason == "connect"
        assert births[0].region == "north"
        assert seqs_of(seen.messages, "events/alarm") == list(range(1, 51))
        agent.link.wait_connected(5)
        # every acknowledged row is deleted
        eventually(lambda: agent.outbox.stats().depth == 0)
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
    test_bin.agent.runtime.set_alarm("tilt", True, "before any broker")
    test_bin.agent.start_link()  # nothing listens yet
    try:
        with broker:
            with Collector(broker.port, ["bins/v1/#"]) as seen:
                seen.wait_for(
                    lambda ms: (
                        seqs_of(ms, "events/alarm") == [1] and any(s.online for s in states(ms))
                    )
                )
                connected = [s for s in states(seen.messages) if s.online]
                # every failed attempt armed a fresh Will; the birth carries the latest bd_seq
                assert connected[-1].bd_seq >= 2
            test_bin.agent.stop()
    finally:
        broker.stop()


def test_broker_outage_loses_nothing_and_keeps_seq_contiguous(tmp_path: Path) -> None:
    persisted = f"persistence true\npersistence_location {tmp_path}/\nautosave_interval 1\n"
    broker = Mosquitto(tmp_path, extra_config=persisted)
    broker.start()
    test_bin = make_bin(bin_config(tmp_path), broker.port)
    agent = test_bin.agent
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
        received = seen.wait_for(lambda ms: {int(m.json()["seq"]) for m in ms} >= set(range(1, 61)))
        unique: dict[int, str | None] = {}
        for m in received:
            _, event = decode_bin_message(m.topic, m.payload)
            assert isinstance(event, AlarmEvent)
            unique.setdefault(event.seq, event.detail)
        assert sorted(unique) == list(range(1, 61))
        assert [unique[s] for s in range(1, 61)] == [f"a{i}" for i in range(60)]
        eventually(lambda: agent.outbox.stats().depth == 0)
        assert agent.link.status().reconnects >= 1
    finally:
        seen.close()
        agent.stop()
        broker.stop()


def test_mqtt5_connection_carries_the_same_contract(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = bin_config(tmp_path)
    config.broker.protocol = "5"
    test_bin = make_bin(config, mosquitto.port)
    with Collector(mosquitto.port, ["bins/v1/#"]) as seen:
        test_bin.agent.runtime.set_alarm("tamper", True, "over MQTT 5")
        test_bin.agent.start_link()
        seen.wait_for(
            lambda ms: seqs_of(ms, "events/alarm") == [1] and any(s.online for s in states(ms))
        )
        test_bin.agent.link.kill()
        final = seen.wait_for(lambda ms: any(not s.online for s in states(ms)))
        will = next(s for s in states(final) if not s.online)
        assert will.reason == "lost"
    test_bin.agent.db.close()
    test_bin.agent.instance_lock.release()
