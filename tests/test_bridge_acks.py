"""The bridge's end-to-end acknowledgement: one ``ack`` per bin per batch, after the commit.

It names the seqs of the batch the bridge stored, found stored already (so a lost ack
heals when the bin sends again), or rejected for good; never a state message's, a
``seq_reused`` one's (kept by the bin until a technician resets it) nor one the bridge
itself failed on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.engine.processor import BatchOutcome, Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from protocol import Ack, decode
from tests.support import bin_messages as msg
from tests.support.bridge_fixtures import FakeNow
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client

TIMEOUT = 20.0


def acks(outcome: BatchOutcome) -> dict[str, list[tuple[int, int]]]:
    """The ranges acknowledged per bin (asserting one ack message per bin)."""
    found: dict[str, list[tuple[int, int]]] = {}
    for topic, payload in outcome.acks:
        bin_id = topic.split("/")[2]
        assert topic == f"bins/v1/{bin_id}/ack"
        assert bin_id not in found, "one ack per bin per batch"
        found[bin_id] = list(decode(Ack, payload).ranges)
    return found


def tampered(message: tuple[str, bytes], **changes: object) -> Inbound:
    topic, payload = message
    data = json.loads(payload)
    data.update(changes)
    return Inbound(topic, json.dumps(data).encode())


@pytest.fixture
def processor(store: SQLiteStore, clock: FakeNow) -> Processor:
    return Processor(validate_settings({}), store, clock)


def test_one_ack_per_bin_names_what_the_batch_stored_or_had_already(
    processor: Processor,
) -> None:
    processor.process([Inbound(*msg.telemetry("bin-001", 5, 20.0))])
    outcome = processor.process(
        [
            Inbound(*msg.state("bin-001", 7)),  # its seq is the counter, not its own
            Inbound(*msg.telemetry("bin-001", 5, 20.0)),  # a duplicate: acked again
            Inbound(*msg.telemetry("bin-001", 6, 21.0)),
            Inbound(*msg.deposit("bin-001", 9)),
            Inbound(*msg.telemetry("bin-002", 3, 40.0)),
            Inbound(*msg.telemetry("bin-001", 8, 22.0)),
        ]
    )
    assert (outcome.stored, outcome.duplicates) == (5, 1)
    assert acks(outcome) == {"bin-001": [(5, 6), (8, 9)], "bin-002": [(3, 3)]}
    assert outcome.acked == 5
    assert processor.process([]).acks == []


def test_rejections_are_acknowledged_when_their_bin_and_seq_can_be_read(
    processor: Processor,
) -> None:
    processor.process([Inbound(*msg.telemetry("bin-001", 4, 20.0))])
    outcome = processor.process(
        [
            tampered(msg.telemetry("bin-001", 10, 20.0), fill_pct="20"),  # schema
            tampered(msg.telemetry("bin-001", 11, 20.0), v=2),  # version
            Inbound("bins/v1/bin-001/events/party", msg.telemetry("bin-001", 12)[1]),
            Inbound("bins/v1/bin-001/telemetry", b"{not json"),  # no seq to name
            tampered(msg.telemetry("bin-001", 13, 20.0), seq=True),  # no valid seq
            tampered(msg.state("bin-001", 14), region="a/b"),  # a state message
            Inbound("elsewhere/bin-001/telemetry", msg.telemetry("bin-001", 15)[1]),
            # The same seq with other content: the bin keeps it until a reset.
            tampered(msg.telemetry("bin-001", 4, 20.0), boot_id="boot-2"),
        ]
    )
    assert sum(outcome.rejected.values()) == 8
    assert acks(outcome) == {"bin-001": [(10, 12)]}


def test_a_reset_bins_ack_names_its_own_seqs(
    processor: Processor, store: SQLiteStore, clock: FakeNow
) -> None:
    processor.process([Inbound(*msg.telemetry("bin-001", 2, 20.0))])
    with store.transaction():
        store.request_seq_reset("bin-001", clock.now, "tech")
    processor.tick()
    outcome = processor.process([Inbound(*msg.telemetry("bin-001", 1, 70.0))])
    assert [m.seq for m in store.stored_messages("bin-001")] == [2, 3]  # stored at 1 + 2
    assert acks(outcome) == {"bin-001": [(1, 1)]}  # but acknowledged as the bin's 1


@pytest.fixture
def bridge(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Bridge]:
    settings = validate_settings(
        {
            "broker": {"url": mosquitto.url, "client_id": "ack-bridge", "backoff_min_s": 0.05},
            "store": {"path": str(tmp_path / "bridge.db")},
        }
    )
    with Bridge(settings) as running:
        assert running.wait_ready(TIMEOUT)
        yield running


def test_the_bridge_publishes_the_acks_after_committing(
    bridge: Bridge, mosquitto: Mosquitto
) -> None:
    with Client(mosquitto.port) as bin_side, Client(mosquitto.port) as other:
        bin_side.subscribe("bins/v1/bin-001/ack")
        other.subscribe("bins/v1/bin-002/ack")
        bin_side.publish_many([msg.telemetry("bin-001", seq, 20.0) for seq in range(1, 51)])
        assert bridge.wait_processed(50, TIMEOUT)
        seen: set[int] = set()
        while len(seen) < 50:
            (message,) = bin_side.take(1, TIMEOUT)
            assert not message.retain
            for first, last in decode(Ack, bytes(message.payload)).ranges:
                seen.update(range(first, last + 1))
        assert seen == set(range(1, 51))
        assert bridge.stats.acked == 50
        assert other.take_nowait() == []  # each bin hears only of its own
