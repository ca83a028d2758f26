"""The bridge's ingest path without the network: validation, storage, state, pickups.

These drive :class:`cloud_bridge.engine.processor.Processor` directly on an in-memory store;
the MQTT tests repeat the essential cases through a real Mosquitto.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from protocol import Pickup, decode
from tests.support import bin_messages as msg
from tests.support.bridge_fixtures import FakeNow


def make(store: SQLiteStore, clock: FakeNow, **settings: object) -> Processor:
    return Processor(validate_settings(dict(settings)), store, clock)


def feed(processor: Processor, *messages: tuple[str, bytes]) -> list[Pickup]:
    """Process messages as one batch; return the pickup messages it published."""
    outcome = processor.process([Inbound(topic, payload) for topic, payload in messages])
    return [
        decode(Pickup, p.payload)
        for p in outcome.publications
        if p.topic.startswith("fleet/v1/pickups/")
    ]


def test_valid_messages_are_stored_and_update_the_bin(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1), msg.telemetry("bin-001", 2, 42.0), msg.deposit("bin-001", 3))
    (record,) = store.load_bins()
    assert record.bin_id == "bin-001"
    assert record.online
    assert record.registered
    assert record.region == "north"
    assert record.location is not None
    assert record.location.lat == 52.5
    assert record.fill_pct == 42.0
    assert record.last_seq == 3
    assert record.last_seen == clock.now
    assert store.message_counts() == {"events/deposit": 1, "telemetry": 1}
    assert [point.fill_pct for point in store.fill_history("bin-001")] == [42.0]


def _extra(fields: bytes) -> bytes:
    """A valid telemetry payload with ``fields`` added at its end, as bytes on the wire."""
    payload = msg.telemetry("bin-001", 5, 50.0)[1]
    return payload[:-1] + b", " + fields + b"}"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("bins/v1/bin-001/telemetry", b"{not json", "malformed"),
        ("bins/v1/bin-001/telemetry", b"\xff\xfe", "malformed"),
        ("bins/v1/bin-001/telemetry", b"[1, 2]", "malformed"),
        ("bins/v1/bin-001/telemetry", b"{" * 100_000, "oversized"),
        ("bins/v1/bin-001/telemetry", b" " * (64 * 1024 + 1), "oversized"),
        ("bins/v1/bin-002/telemetry", msg.telemetry("bin-001", 5)[1], "bin_id_mismatch"),
        ("bins/v1/bin-001/events/party", msg.telemetry("bin-001", 5)[1], "unknown_topic"),
        ("bins/v1/BIN/telemetry", msg.telemetry("bin-001", 5)[1], "unknown_topic"),
        ("bins/v1/bin-001/telemetry", _extra(b'"x": NaN'), "non_standard_json"),
        ("bins/v1/bin-001/telemetry", _extra(b'"x": {"y": [-Infinity]}'), "non_standard_json"),
        ("bins/v1/bin-001/telemetry", _extra(b'"fill_pct": 99.0'), "duplicate_key"),
        ("bins/v1/bin-001/telemetry", _extra(b'"x": {"a": 1, "a": 2}'), "duplicate_key"),
    ],
)
def test_hostile_payloads_are_rejected_with_a_reason(
    store: SQLiteStore, clock: FakeNow, topic: str, payload: bytes, reason: str
) -> None:
    p = make(store, clock)
    outcome = p.process([Inbound(topic, payload)])
    assert outcome.rejected == {reason: 1}
    assert outcome.stored == 0
    (count,) = store.rejection_counts()
    assert (count.reason, count.count, count.last_topic) == (reason, 1, topic)
    assert store.load_bins() == []


def test_only_standard_json_is_stored(store: SQLiteStore, clock: FakeNow) -> None:
    """NaN in a field the bridge ignores used to be stored (json_valid() 0 for the row),
    and of a key given twice the bridge used the last value, SQL the first."""
    p = make(store, clock)
    outcome = p.process(
        [
            Inbound("bins/v1/bin-001/telemetry", _extra(b'"x": NaN')),
            Inbound("bins/v1/bin-001/telemetry", _extra(b'"fill_pct": 99.0')),
            Inbound(*msg.telemetry("bin-001", 6, 40.0)),
        ]
    )
    assert (outcome.stored, outcome.rejected) == (1, {"non_standard_json": 1, "duplicate_key": 1})
    rows = list(store._db.execute("SELECT seq, json_valid(payload) FROM messages"))
    assert rows == [(6, 1)]
    counts = {c.reason: (c.count, c.last_detail or "") for c in store.rejection_counts()}
    assert "NaN" in counts["non_standard_json"][1]
    assert "'fill_pct' twice" in counts["duplicate_key"][1]


def _tamper(payload: bytes, **changes: object) -> bytes:
    data = json.loads(payload)
    data.update(changes)
    return json.dumps(data).encode()


def test_wrong_types_and_versions_are_rejected_and_later_messages_still_count(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    topic, good = msg.telemetry("bin-001", 7, 50.0)
    batch = [
        Inbound(topic, _tamper(good, fill_pct="50")),
        Inbound(topic, _tamper(good, seq=True)),
        Inbound(topic, _tamper(good, fill_pct=150.0)),
        Inbound(topic, _tamper(good, v=2)),
        Inbound(topic, _tamper(good, v="1")),
        Inbound(*msg.state("bin-001", 1, region="a/b")),
        Inbound(topic, good),
    ]
    outcome = p.process(batch)
    assert outcome.rejected == {"schema": 4, "version": 2}
    assert outcome.stored == 1
    counts = {c.reason: c.count for c in store.rejection_counts()}
    assert counts == {"schema": 4, "version": 2}
    assert store.load_bins()[0].fill_pct == 50.0


def test_rejection_warnings_are_rate_limited(
    store: SQLiteStore, clock: FakeNow, caplog: pytest.LogCaptureFixture
) -> None:
    p = make(store, clock, ingest={"rejection_logs_per_minute": 3})
    caplog.set_level(logging.WARNING, logger="cloud_bridge.engine.processor")
    p.process([Inbound("bins/v1/bin-001/telemetry", b"junk") for _ in range(50)])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "bins/v1/bin-001/telemetry" in warnings[0].getMessage()
    assert store.rejection_counts()[0].count == 50


def test_the_same_seq_twice_is_stored_once_and_applied_once(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1), msg.deposit("bin-001", 2), msg.telemetry("bin-001", 3, 85.0))
    (first,) = store.list_pickups()
    outcome = p.process(
        [Inbound(*msg.deposit("bin-001", 2)), Inbound(*msg.telemetry("bin-001", 3, 85.0))]
    )
    assert (outcome.stored, outcome.duplicates) == (0, 2)
    assert outcome.publications == []
    assert store.message_counts() == {"events/deposit": 1, "telemetry": 1}
    (again,) = store.list_pickups()
    assert again.manifest == first.manifest
    assert again.manifest["plastic"].count == 1


def test_a_reused_seq_with_other_content_is_rejected_not_dropped_as_a_duplicate(
    store: SQLiteStore, clock: FakeNow, caplog: pytest.LogCaptureFixture
) -> None:
    p = make(store, clock)
    feed(p, msg.telemetry("bin-001", 4, 20.0), msg.telemetry("bin-001", 5, 33.0))
    caplog.set_level(logging.WARNING, logger="cloud_bridge.engine.processor")
    # a re-flashed bin (database wiped) counts again from 1 with other readings
    topic, reused = msg.telemetry("bin-001", 5, 80.0)
    outcome = p.process([Inbound(topic, _tamper(reused, boot_id="boot-2"))])
    assert outcome.rejected == {"seq_reused": 1}
    assert (outcome.stored, outcome.duplicates) == (0, 0)
    (count,) = store.rejection_counts()
    assert (count.reason, count.count, count.last_topic) == ("seq_reused", 1, topic)
    assert count.last_detail is not None
    assert "bin-bridge bin reset bin-001" in count.last_detail
    assert "seq 5" in count.last_detail
    assert any("seq_reused" in r.getMessage() for r in caplog.records)
    assert store.load_bins()[0].fill_pct == 33.0
    # the same message again, byte for byte or re-encoded, is still a plain duplicate
    _, original = msg.telemetry("bin-001", 5, 33.0)
    reordered = json.dumps(dict(reversed(json.loads(original).items()))).encode()
    outcome = p.process([Inbound(topic, original), Inbound(topic, reordered)])
    assert (outcome.stored, outcome.duplicates, outcome.rejected) == (0, 2, {})


def test_a_reset_bin_is_stored_after_its_old_sequence(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(
        p,
        msg.state("bin-001", 1, bd_seq=9),
        msg.telemetry("bin-001", 2, 20.0),
        msg.telemetry("bin-001", 3, 30.0),
    )
    with store.transaction():
        store.request_seq_reset("bin-001", clock.now, "tech")
    p.tick()
    (reset,) = store.list_seq_resets()
    assert (reset.seq_offset, reset.applied_at) == (3, clock.now)
    assert store.list_seq_resets(pending_only=True) == []
    # the re-flashed bin: seq and bd_seq start again
    outcome = p.process(
        [
            Inbound(*msg.state("bin-001", 1, bd_seq=1)),
            Inbound(*msg.telemetry("bin-001", 2, 70.0)),
            Inbound(*msg.telemetry("bin-001", 3, 75.0)),
        ]
    )
    assert (outcome.stored, outcome.duplicates, outcome.rejected) == (3, 0, {})
    (record,) = store.load_bins()
    assert (record.fill_pct, record.last_seq, record.stored_seq) == (75.0, 6, 6)
    assert (record.online, record.bd_seq) == (True, 1)
    stored = list(store.stored_messages("bin-001"))
    assert [m.seq for m in stored] == [2, 3, 5, 6]
    assert json.loads(stored[-1].payload)["seq"] == 3  # the payload is kept as received
    assert [pt.fill_pct for pt in store.fill_history("bin-001")] == [20.0, 30.0, 70.0, 75.0]
    # the offset survives a restart, and a redelivery is still a duplicate
    again = make(store, clock)
    outcome = again.process([Inbound(*msg.telemetry("bin-001", 3, 75.0))])
    assert (outcome.stored, outcome.duplicates) == (0, 1)


def test_out_of_order_delivery_keeps_the_state_of_the_highest_seq(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.telemetry("bin-001", 10, 30.0))
    feed(p, msg.telemetry("bin-001", 8, 90.0), msg.telemetry("bin-001", 9, 20.0))
    (record,) = store.load_bins()
    assert record.fill_pct == 30.0
    assert record.last_seq == 10
    assert [pt.seq for pt in store.fill_history("bin-001")] == [8, 9, 10]
    assert store.list_pickups() == []


def test_birth_registers_the_bin_with_region_and_location(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.telemetry("bin-009", 4))
    (record,) = store.load_bins()
    assert not record.registered
    assert record.region == "default"
    assert not record.online
    feed(p, msg.state("bin-009", 5, region="south", lat=48.1, lon=11.6))
    (record,) = store.load_bins()
    assert record.registered
    assert record.online
    assert record.region == "south"
    assert record.location is not None
    assert (record.location.lat, record.location.lon) == (
        48.1,
        11.6,
    )


def test_a_stale_death_never_marks_a_live_bin_offline(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1, bd_seq=4))
    feed(p, msg.state("bin-001", 1, bd_seq=3, online=False))
    assert store.load_bins()[0].online
    feed(p, msg.state("bin-001", 9, bd_seq=4, online=False))
    assert not store.load_bins()[0].online
    # the retained birth of the same connection, seen again, does not revive it
    feed(p, msg.state("bin-001", 1, bd_seq=4))
    assert not store.load_bins()[0].online
    feed(p, msg.state("bin-001", 9, bd_seq=5))
    assert store.load_bins()[0].online


def test_pickup_is_raised_once_and_updated_in_place(store: SQLiteStore, clock: FakeNow) -> None:
    # single readings decide here (no median) to show the hysteresis step by step
    north = {"pickup_threshold_pct": 70, "due_hours": 12, "fill_median_readings": 1}
    p = make(store, clock, regions={"north": north})
    feed(p, msg.state("bin-001", 1), msg.telemetry("bin-001", 2, 50.0))
    assert store.list_pickups() == []
    (raised,) = feed(p, msg.telemetry("bin-001", 3, 71.0))
    assert (raised.status, raised.reason, raised.priority) == ("requested", "threshold", "normal")
    assert raised.bin_id == "bin-001"
    assert raised.region == "north"
    assert raised.due_by == clock.now + timedelta(hours=12)
    assert raised.location is not None
    assert raised.location.lat == 52.5
    # a small rise is stored but not republished
    assert feed(p, msg.telemetry("bin-001", 4, 73.0)) == []
    # noise around the threshold is not a new crossing (hysteresis of 5 points) ...
    assert feed(p, msg.telemetry("bin-001", 5, 68.0)) == []
    assert feed(p, msg.telemetry("bin-001", 6, 72.0)) == []
    # ... dipping well under and crossing again updates the same pickup
    (dipped,) = feed(p, msg.telemetry("bin-001", 7, 64.0))  # moved by 7 points: republished
    assert dipped.pickup_id == raised.pickup_id
    (again,) = feed(p, msg.telemetry("bin-001", 8, 72.0))
    assert again.pickup_id == raised.pickup_id
    assert again.fill_pct == 72.0
    # a big rise is republished
    (bigger,) = feed(p, msg.telemetry("bin-001", 9, 80.0))
    assert bigger.pickup_id == raised.pickup_id
    assert len(store.list_pickups()) == 1


def test_emptied_event_collects_with_the_manifest_since_the_last_emptying(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(
        p,
        msg.state("bin-001", 1),
        msg.deposit("bin-001", 2, "glass", grams=400),
        msg.emptied("bin-001", 3),
        msg.deposit("bin-001", 4, "glass", grams=500),
        msg.deposit("bin-001", 5, "glass", grams=300),
        msg.deposit("bin-001", 6, "metal", grams=100),
        msg.deposit("bin-001", 7, "paper", grams=100, accepted=False),
    )
    (requested,) = feed(p, msg.telemetry("bin-001", 8, 85.0))
    assert {k: (v.count, v.kg) for k, v in requested.manifest.items()} == {
        "glass": (2, 0.8),
        "metal": (1, 0.1),
    }
    clock.advance(hours=2)
    (collected,) = feed(p, msg.emptied("bin-001", 9, pickup_id=requested.pickup_id))
    assert collected.status == "collected"
    assert collected.pickup_id == requested.pickup_id
    assert collected.manifest == requested.manifest
    assert collected.ts == clock.now
    assert store.list_pickups(open_only=True) == []
    # the next pickup starts from an empty manifest
    feed(p, msg.deposit("bin-001", 10, "cardboard", grams=1000))
    (second,) = feed(p, msg.telemetry("bin-001", 11, 90.0))
    assert second.pickup_id != requested.pickup_id
    assert {k: v.count for k, v in second.manifest.items()} == {"cardboard": 1}


def test_a_clear_fill_drop_counts_as_collection(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1), msg.deposit("bin-001", 2))
    (requested,) = feed(p, msg.telemetry("bin-001", 3, 88.0))
    assert feed(p, msg.telemetry("bin-001", 4, 60.0)) != []  # moved, but not emptied
    assert store.list_pickups()[0].status == "requested"
    # one low reading is not evidence enough: it waits for a second
    assert feed(p, msg.telemetry("bin-001", 5, 3.0)) == []
    assert store.list_pickups()[0].status == "requested"
    (collected,) = feed(p, msg.telemetry("bin-001", 6, 2.0))
    assert collected.status == "collected"
    assert collected.pickup_id == requested.pickup_id
    assert collected.manifest["plastic"].count == 1
    (record,) = store.load_bins()
    assert record.emptied_seq == 5


def test_an_emptied_event_older_than_the_request_does_not_collect_it(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    feed(p, msg.telemetry("bin-001", 10, 90.0))
    assert feed(p, msg.emptied("bin-001", 5)) == []
    assert store.list_pickups()[0].status == "requested"


def test_overflow_alarm_raises_priority(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (requested,) = feed(p, msg.telemetry("bin-001", 2, 82.0))
    assert requested.priority == "normal"
    clock.advance(hours=1)
    (raised,) = feed(p, msg.alarm("bin-001", 3, "overflow"))
    assert raised.priority == "high"
    assert raised.pickup_id == requested.pickup_id
    assert raised.due_by == clock.now + timedelta(hours=4)
    # an overflow on a bin without a pickup requests one at once
    feed(p, msg.state("bin-002", 1))
    (alarmed,) = feed(p, msg.alarm("bin-002", 2, "overflow"))
    assert (alarmed.reason, alarmed.priority) == ("alarm", "high")


def test_a_locked_door_makes_a_new_pickup_high_priority(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    (requested,) = feed(p, msg.telemetry("bin-001", 2, 95.0, door="locked"))
    assert requested.priority == "high"
    assert requested.region == "default"


def test_state_survives_a_new_processor_on_the_same_store(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1), msg.telemetry("bin-001", 2, 90.0))
    q = make(store, clock)
    assert feed(q, msg.telemetry("bin-001", 3, 91.0)) == []
    assert len(store.list_pickups()) == 1
    assert q.fleet.get("bin-001") is not None


def test_settings_defaults_apply_to_unknown_regions() -> None:
    settings = BridgeSettings.model_validate(
        {"pickups": {"due_hours": 6}, "regions": {"north": {"pickup_threshold_pct": 60}}}
    )
    assert settings.region("north").pickup_threshold_pct == 60
    assert settings.region("north").due_hours == 6
    assert settings.region("south").pickup_threshold_pct == 80
