"""A broker killed before its save loses what it acknowledged; the bins lose nothing.

Mosquitto keeps the messages it queues for an offline subscriber in memory and writes
them to disk every ``autosave_interval`` (1 800 s by default) or at a clean stop. Here
the bridge is offline, a bin publishes, the broker acknowledges, and the broker is
killed with SIGKILL before any save: those messages exist only in the bin's outbox.
With end-to-end confirmation (``broker.confirm = "bridge"``) the bin kept them as
unconfirmed rows, publishes them again after reconnecting, and deletes each only when
the bridge's ack names it. With ``broker.confirm = "broker"`` (the PUBACK deletes the
row, as every bin did before the ack existed) they are gone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.app import Agent
from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.engine.bridge import Bridge
from tests.support.bins import bin_config, make_bin
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import eventually

EVENTS = 40
TIMEOUT = 20.0

pytestmark = pytest.mark.slow


def bridge_settings(broker: Mosquitto, tmp_path: Path) -> BridgeSettings:
    return validate_settings(
        {
            "broker": {
                "url": broker.url,
                "client_id": "crash-bridge",
                "backoff_min_s": 0.05,
                "backoff_max_s": 0.5,
            },
            "store": {"path": str(tmp_path / "bridge.db")},
        }
    )


def emit(agent: Agent, first: int, count: int) -> None:
    for i in range(first, first + count):
        agent.runtime.emit_event("alarm", {"kind": "tamper", "active": True, "detail": f"e{i}"})


def alarm_seqs(bridge: Bridge) -> list[int]:
    return [m.seq for m in bridge.store.stored_messages("bin-001") if m.kind == "events/alarm"]


def crash_with_the_bridge_offline(tmp_path: Path, confirm: str) -> tuple[Mosquitto, Agent, int]:
    """The bridge has a session but is offline; a bin publishes EVENTS alarms, the broker
    acknowledges them and is killed before it saves. Returns the restarted broker, the
    agent (reconnecting) and the seq before the first alarm."""
    broker = Mosquitto(
        tmp_path,
        extra_config=(
            f"persistence true\npersistence_location {tmp_path}/\n"
            "autosave_interval 1800\nuser root\n"
        ),
    )
    broker.start()
    settings = bridge_settings(broker, tmp_path)
    # The bridge subscribes once (its persistent session), then goes offline; a clean
    # stop of the broker saves that session, as an earlier periodic save would have.
    first = Bridge(settings)
    first.start()
    assert first.wait_ready(TIMEOUT)
    first.stop()
    broker.restart()

    config = bin_config(tmp_path)
    config.broker.confirm = confirm  # type: ignore[assignment]
    agent = make_bin(config, broker.port).agent
    base = agent.outbox.last_seq
    agent.start_link()
    emit(agent, 0, EVENTS)
    # The broker acknowledged every alarm (queued, in memory only, for the bridge).
    if confirm == "bridge":
        eventually(lambda: agent.outbox.stats().unconfirmed == EVENTS, TIMEOUT, "all sent")
    else:
        eventually(lambda: agent.outbox.stats().depth == 0, TIMEOUT, "all acknowledged")
    broker.kill()
    broker.start()  # same persistence directory: the bridge's session, not the alarms
    return broker, agent, base


def test_a_broker_killed_before_its_save_loses_nothing(tmp_path: Path) -> None:
    broker, agent, base = crash_with_the_bridge_offline(tmp_path, "bridge")
    try:
        # The bin reconnects and publishes its unconfirmed rows again; it keeps them
        # while no bridge has confirmed them.
        eventually(lambda: agent.link.status().reconnects >= 1, TIMEOUT, "reconnected")
        eventually(lambda: agent.link.confirmations.resent >= EVENTS, TIMEOUT, "sent again")
        eventually(lambda: agent.outbox.stats().unconfirmed == EVENTS, TIMEOUT, "taken again")
        assert agent.outbox.stats().depth == EVENTS
        with Bridge(bridge_settings(broker, tmp_path)) as bridge:
            assert bridge.wait_for(lambda s: s.stored >= EVENTS, TIMEOUT)
            # Each alarm once, every one of them; and the bin let go only of what the
            # bridge's acks named.
            assert alarm_seqs(bridge) == list(range(base + 1, base + EVENTS + 1))
            eventually(lambda: agent.outbox.stats().depth == 0, TIMEOUT, "outbox confirmed")
            assert agent.link.confirmations.acks_received >= 1
            assert bridge.stats.acked >= EVENTS
    finally:
        agent.stop()
        broker.stop()


def test_deleting_at_the_pubacks_loses_what_the_killed_broker_held(tmp_path: Path) -> None:
    # What every bin did before the ack: the PUBACK deleted the row. Kept as a setting
    # for consumers that send no ack; this shows what it costs.
    broker, agent, base = crash_with_the_bridge_offline(tmp_path, "broker")
    try:
        with Bridge(bridge_settings(broker, tmp_path)) as bridge:
            assert bridge.wait_ready(TIMEOUT)
            emit(agent, EVENTS, 1)  # one more, after the crash: it arrives
            eventually(lambda: bool(alarm_seqs(bridge)), TIMEOUT, "the new alarm stored")
            assert alarm_seqs(bridge) == [base + EVENTS + 1]
    finally:
        agent.stop()
        broker.stop()
