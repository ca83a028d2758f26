"""Contract tests of the bridge's Store: what every back-end promises the bridge.

Each test runs once per back-end of the ``store`` fixture (``tests/contract/conftest.py``);
a new back-end is one more entry in its ``STORES`` and must pass them all unchanged.
Failures are asserted as the bridge's store errors (``StoreConflict``, ...), never a
driver's. What only SQLite has (files, read-only URIs, its migrations) is tested in
``tests/test_sqlite_store.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.domain.records import (
    BinRecord,
    CommandRecord,
    DesiredConfig,
    Flag,
    HealthSnapshot,
    PickupRecord,
    TicketRecord,
)
from cloud_bridge.errors import StoreConflict, StoreError, StoreUnavailable
from cloud_bridge.store.protocols import Store, StoredMessage
from protocol import DepositEvent, Location, ManifestEntry, Telemetry, decode
from tests.support import bin_messages as msg
from tests.support.bin_messages import T0


def stored(bin_id: str, seq: int, kind: str = "telemetry") -> StoredMessage:
    return StoredMessage(bin_id, seq, kind, T0 + timedelta(seconds=seq), T0, '{"x": 1}')


def test_a_message_is_stored_once_per_bin_and_seq(store: Store) -> None:
    with store.transaction():
        assert store.add_message(stored("bin-001", 1))
        assert not store.add_message(stored("bin-001", 1, "events/deposit"))
        assert store.add_message(stored("bin-002", 1))
        store.add_messages([stored("bin-001", 1), stored("bin-001", 2)])
    assert store.message_counts() == {"telemetry": 3}
    assert [m.seq for m in store.stored_messages("bin-001")] == [1, 2]
    first = next(store.stored_messages("bin-001"))
    assert first.ts == T0 + timedelta(seconds=1)
    assert first.payload == '{"x": 1}'


def test_a_stored_payload_is_found_by_bin_and_seq(store: Store) -> None:
    with store.transaction():
        store.add_messages([stored("bin-001", 1)])
    assert store.message_payload("bin-001", 1) == '{"x": 1}'
    assert store.message_payload("bin-001", 2) is None
    assert store.message_payload("bin-002", 1) is None


def test_seq_resets_are_requested_then_applied_and_the_latest_offset_counts(
    store: Store,
) -> None:
    with store.transaction():
        first = store.request_seq_reset("bin-001", T0, "tech-a")
        store.request_seq_reset("bin-002", T0, "tech-b")
    assert [r.bin_id for r in store.list_seq_resets(pending_only=True)] == ["bin-001", "bin-002"]
    assert store.seq_offsets() == {}
    with store.transaction():
        store.apply_seq_reset(first, 40, T0 + timedelta(minutes=1))
        second = store.request_seq_reset("bin-001", T0 + timedelta(days=1), "tech-a")
        store.apply_seq_reset(second, 90, T0 + timedelta(days=1))
    assert store.seq_offsets() == {"bin-001": 90}
    (pending,) = store.list_seq_resets(pending_only=True)
    assert (pending.bin_id, pending.actor, pending.applied_at) == ("bin-002", "tech-b", None)
    applied = store.list_seq_resets(bin_id="bin-001")
    assert [(r.seq_offset, r.applied_at) for r in applied] == [
        (40, T0 + timedelta(minutes=1)),
        (90, T0 + timedelta(days=1)),
    ]


def test_many_messages_in_one_batch_are_all_stored(store: Store) -> None:
    with store.transaction():
        store.add_messages([stored("bin-001", seq) for seq in range(1, 1302)])
    assert store.message_counts() == {"telemetry": 1301}


def _fail_inside(store: Store) -> None:
    with store.transaction():
        store.add_message(stored("bin-001", 1))
        raise RuntimeError("boom")


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _fail_inside(store)
    assert store.message_counts() == {}
    with store.transaction():
        assert store.add_message(stored("bin-001", 1))


def test_bins_round_trip(store: Store) -> None:
    record = BinRecord(
        bin_id="bin-001",
        region="north",
        location=Location(lat=52.5, lon=None),
        registered_at=T0,
        online=True,
        bd_seq=4,
        last_seq=10,
        stored_seq=9,
        last_ts=T0,
        clock_synced=False,
        last_seen=T0,
        telemetry_seq=9,
        fill_pct=40.5,
        door="open",
        emptied_seq=3,
        alarms={"overflow": Flag(True, 8, "fill 96 %")},
        faults={"camera/timeout": Flag(False, 7)},
        offline_since=T0 + timedelta(minutes=3),
        health=HealthSnapshot(
            disk_free_mb=812.5,
            outbox_depth=4,
            outbox_oldest_s=1.5,
            sensors={"camera": "degraded"},
            tray_idle_g=-3.5,
            drift_over=2,
            drifting=True,
            backlog_since=T0,
        ),
        desired_version=7,
        desired_at=T0,
        reported_version=6,
        reported_status="rolled_back",
        reported_error="intake.max_item_g: too low",
        reported_at=T0 + timedelta(seconds=5),
    )
    with store.transaction():
        store.save_bins([record, BinRecord(bin_id="bin-000", region="default")])
    loaded = store.load_bins()
    assert [b.bin_id for b in loaded] == ["bin-000", "bin-001"]
    assert loaded[1] == record
    assert loaded[0].location is None


def _pickup(pickup_id: str, status: str = "requested") -> PickupRecord:
    return PickupRecord(
        pickup_id=pickup_id,
        bin_id="bin-001",
        region="north",
        status=status,  # type: ignore[arg-type]
        priority="normal",
        reason="threshold",
        fill_pct=81.0,
        predicted_full_at=None,
        due_by=T0 + timedelta(hours=24),
        location=Location(lat=1.0, lon=2.0),
        manifest={"glass": ManifestEntry(count=2, kg=0.8)},
        ts=T0,
        requested_at=T0,
        trigger_seq=12,
    )


def test_pickups_round_trip_and_only_one_is_open_per_bin(store: Store) -> None:
    collected = _pickup("pk-1", "collected")
    collected.closed_at = T0
    with store.transaction():
        store.save_pickup(collected)
        store.save_pickup(_pickup("pk-2"))
    assert [p.pickup_id for p in store.list_pickups()] == ["pk-1", "pk-2"]
    assert [p.pickup_id for p in store.list_pickups(open_only=True)] == ["pk-2"]
    assert store.list_pickups(open_only=True)[0] == _pickup("pk-2")
    with pytest.raises(StoreConflict):
        _save(store, _pickup("pk-3"))


def _save(store: Store, pickup: PickupRecord) -> None:
    with store.transaction():
        store.save_pickup(pickup)


def test_manifest_counts_accepted_deposits_between_emptyings(store: Store) -> None:
    deposits = [
        msg.deposit("bin-001", 1, "glass", grams=100),
        msg.deposit("bin-001", 2, "glass", grams=300),
        msg.deposit("bin-001", 3, "metal", grams=50),
        msg.deposit("bin-001", 4, "metal", grams=50, accepted=False),
        msg.deposit("bin-002", 5, "paper", grams=10),
    ]
    with store.transaction():
        for _, payload in deposits:
            store.add_deposit(decode(DepositEvent, payload))
    assert store.manifest("bin-001", 0) == {
        "glass": ManifestEntry(count=2, kg=0.4),
        "metal": ManifestEntry(count=1, kg=0.05),
    }
    assert store.manifest("bin-001", 1, before_seq=3) == {"glass": ManifestEntry(count=1, kg=0.3)}
    assert store.manifest("bin-003", 0) == {}


def test_outbox_keeps_publications_until_removed(store: Store) -> None:
    with store.transaction():
        first = store.queue_publication("fleet/v1/pickups/north", b"one")
        second = store.queue_publication("fleet/v1/pickups/south", b"two")
        third = store.queue_publication("bins/v1/bin-001/config/desired", b"3", retain=True)
    assert [(p.id, p.payload, p.retain) for p in store.pending_publications()] == [
        (first, b"one", False),
        (second, b"two", False),
        (third, b"3", True),
    ]
    with store.transaction():
        store.remove_publications([third])
    with store.transaction():
        store.remove_publications([first])
    assert [p.topic for p in store.pending_publications()] == ["fleet/v1/pickups/south"]


def test_rejections_accumulate_per_reason(store: Store) -> None:
    with store.transaction():
        store.count_rejections("malformed", 2, "bins/v1/a/telemetry", "bad", T0)
        store.count_rejections("malformed", 3, "bins/v1/b/telemetry", "worse", T0)
        store.count_rejections("oversized", 1, "bins/v1/c/telemetry", "big", T0)
    counts = store.rejection_counts()
    assert [(c.reason, c.count, c.last_topic) for c in counts] == [
        ("malformed", 5, "bins/v1/b/telemetry"),
        ("oversized", 1, "bins/v1/c/telemetry"),
    ]


def test_door_changes_are_the_readings_at_and_after_a_locked_door(store: Store) -> None:
    from protocol import Telemetry

    doors = ["closed", "locked", "locked", "closed", "closed", "locked"]
    rows = [
        (decode(Telemetry, msg.telemetry("bin-001", seq, 90.0, door=door)[1]), T0)  # type: ignore[arg-type]
        for seq, door in enumerate(doors, start=1)
    ]
    with store.transaction():
        store.add_telemetry(rows)
    changes = store.door_changes("bin-001", T0)
    assert [door for _, door in changes] == ["locked", "locked", "closed", "locked"]
    assert [at for at, _ in changes] == [T0 + timedelta(seconds=s) for s in (2, 3, 4, 6)]
    points = store.fill_history("bin-001")
    end = T0 + timedelta(hours=1)
    from cloud_bridge.services.forecasts import locked_intervals

    assert locked_intervals(changes, end) == locked_intervals(points, end)


def test_fill_history_is_in_seq_order(store: Store) -> None:
    from protocol import Telemetry

    rows = [(decode(Telemetry, msg.telemetry("bin-001", s, s * 10.0)[1]), T0) for s in (3, 1, 2)]
    with store.transaction():
        store.add_telemetry(rows)
    assert [(p.seq, p.fill_pct) for p in store.fill_history("bin-001")] == [
        (1, 10.0),
        (2, 20.0),
        (3, 30.0),
    ]


def test_pickup_lifecycle_fields_round_trip_and_filters(store: Store) -> None:
    scheduled = _pickup("pk-1", "scheduled")
    scheduled.acknowledged_at = T0 + timedelta(minutes=5)
    scheduled.scheduled_for = T0 + timedelta(hours=3)
    scheduled.escalated_at = T0 + timedelta(hours=25)
    scheduled.forecast_low = T0 + timedelta(hours=20)
    scheduled.forecast_high = T0 + timedelta(hours=30)
    scheduled.drop_seq = 40
    scheduled.drop_readings = 1
    cancelled = _pickup("pk-2", "cancelled")
    cancelled.bin_id = "bin-002"
    cancelled.region = "south"
    cancelled.cancel_reason = "duplicate"
    cancelled.requested_at = T0 + timedelta(days=1)
    with store.transaction():
        store.save_pickup(scheduled)
        store.save_pickup(cancelled)
    assert store.get_pickup("pk-1") == scheduled
    assert store.get_pickup("pk-3") is None
    assert [p.pickup_id for p in store.list_pickups(region="south")] == ["pk-2"]
    assert [p.pickup_id for p in store.list_pickups(status="scheduled")] == ["pk-1"]
    assert [p.pickup_id for p in store.list_pickups(bin_id="bin-002")] == ["pk-2"]
    assert [p.pickup_id for p in store.list_pickups(open_only=True)] == ["pk-1"]
    since = T0 + timedelta(hours=12)
    assert [p.pickup_id for p in store.list_pickups(since=since)] == ["pk-2"]
    assert [p.pickup_id for p in store.list_pickups(until=since)] == ["pk-1"]
    assert [p.pickup_id for p in store.list_pickups(limit=1)] == ["pk-1"]


def test_reading_times_follow_clock_sync(store: Store) -> None:
    received = T0 + timedelta(days=3)
    synced = decode(Telemetry, msg.telemetry("bin-001", 1, 10.0)[1])
    unsynced = synced.model_copy(update={"seq": 2, "clock_synced": False})
    with store.transaction():
        store.add_telemetry([(synced, received), (unsynced, received)])
        store.add_deposit(decode(DepositEvent, msg.deposit("bin-001", 3)[1]), received)
        store.add_deposit(
            decode(DepositEvent, msg.deposit("bin-001", 4)[1]).model_copy(
                update={"clock_synced": False}
            ),
            received,
        )
        store.add_deposit(decode(DepositEvent, msg.deposit("bin-001", 5, accepted=False)[1]))
    first, second = store.fill_history("bin-001")
    assert (first.at, first.clock_synced) == (synced.ts, True)
    assert (second.at, second.clock_synced) == (received, False)
    assert [p.seq for p in store.fill_history("bin-001", after_seq=1)] == [2]
    series = [(p.at, p.fill_pct, p.door) for p in store.fill_history("bin-001")]
    assert store.fill_series("bin-001") == series  # the same readings, leaner
    assert store.door_changes("bin-001", T0) == []  # never locked
    assert store.fill_series("bin-001", after_seq=1) == series[1:]
    assert store.fill_series("bin-001", since=received) == [s for s in series if s[0] >= received]
    assert [p.seq for p in store.fill_history("bin-001", limit=1)] == [2]
    assert store.deposit_times("bin-001", T0) == [T0 + timedelta(seconds=3), received]
    rows = store.list_deposits(bin_id="bin-001", accepted=True)
    assert [(r.seq, r.clock_synced, r.received_at) for r in rows] == [
        (3, True, received),
        (4, False, received),
    ]
    assert [r.seq for r in store.list_deposits(accepted=False)] == [5]


def test_forecasts_round_trip(store: Store) -> None:
    forecast = Forecast(
        predicted_full_at=T0 + timedelta(hours=30),
        low=T0 + timedelta(hours=26),
        high=T0 + timedelta(hours=35),
        rate_pct_per_h=1.75,
        level_pct=42.5,
        method="weekly",
        points=288,
        computed_at=T0,
        full_pct=95.0,
        span_hours=24.0,
    )
    empty = Forecast(None, None, None, None, None, "insufficient", 2, T0, 95.0)
    with store.transaction():
        store.save_forecast("bin-001", forecast)
        store.save_forecast("bin-002", empty)
    assert store.load_forecasts() == {"bin-001": forecast, "bin-002": empty}
    assert store.get_forecast("bin-001") == forecast
    assert store.get_forecast("bin-404") is None


def test_the_delivery_queue_hands_out_each_endpoints_head_in_order(store: Store) -> None:
    with store.transaction():
        a1 = store.queue_delivery("a", "pickup", "pk-1", b"1", T0)
        a2 = store.queue_delivery("a", "pickup", "pk-2", b"2", T0)
        b1 = store.queue_delivery("b", "ticket", "tk-1", b"3", T0)
    assert [d.id for d in store.due_deliveries(T0, 10)] == [a1, b1]
    later = T0 + timedelta(minutes=5)
    with store.transaction():
        store.record_attempt(
            a1, at=T0, state="pending", status=503, error="HTTP 503", next_attempt_at=later
        )
        store.record_attempt(b1, at=T0, state="delivered", status=200, error=None,
                             next_attempt_at=T0)  # fmt: skip
    assert store.due_deliveries(T0, 10) == []  # a2 waits behind a1
    (head,) = store.due_deliveries(later, 10)
    assert (head.id, head.attempts, head.last_error, head.body) == (a1, 1, "HTTP 503", b"1")
    with store.transaction():
        store.record_attempt(a1, at=later, state="dead", status=None, error="gone",
                             next_attempt_at=later)  # fmt: skip
    assert [d.id for d in store.due_deliveries(later, 10)] == [a2]
    assert store.delivery_counts() == {"dead": 1, "delivered": 1, "pending": 1}
    assert [d.id for d in store.list_deliveries(state="dead")] == [a1]
    assert [d.id for d in store.list_deliveries()] == [b1, a2, a1]
    with store.transaction():
        assert store.retry_delivery(a1, later)
    (again,) = store.due_deliveries(later, 10)
    assert (again.id, again.attempts, again.state) == (a1, 0, "pending")
    with pytest.raises(ValueError, match="delivery state"):
        store.record_attempt(a1, at=later, state="lost", status=None, error=None,
                             next_attempt_at=later)  # fmt: skip


def _ticket(ticket_id: str, kind: str = "sensor_fault", status: str = "open") -> TicketRecord:
    return TicketRecord(
        ticket_id=ticket_id,
        bin_id="bin-001",
        region="north",
        kind=kind,
        severity="warning",
        status=status,  # type: ignore[arg-type]
        detail="loadcell/stuck",
        causes=["loadcell/stuck"],
        opened_at=T0,
        ts=T0,
        resolved_at=T0 + timedelta(hours=1) if status == "resolved" else None,
    )


def test_tickets_round_trip_and_only_one_is_open_per_bin_and_kind(store: Store) -> None:
    with store.transaction():
        store.save_ticket(_ticket("tk-1", status="resolved"))
        store.save_ticket(_ticket("tk-2"))
        store.save_ticket(_ticket("tk-3", kind="alarm"))
    assert [t.ticket_id for t in store.list_tickets()] == ["tk-1", "tk-2", "tk-3"]
    assert [t.ticket_id for t in store.list_tickets(open_only=True)] == ["tk-2", "tk-3"]
    assert [t.ticket_id for t in store.list_tickets(kind="alarm", region="north")] == ["tk-3"]
    assert store.list_tickets(bin_id="bin-002") == []
    assert [t.ticket_id for t in store.list_tickets(status="resolved", limit=5)] == ["tk-1"]
    assert store.get_ticket("tk-1") == _ticket("tk-1", status="resolved")
    assert store.count_tickets("bin-001", "sensor_fault") == 2
    updated = _ticket("tk-2")
    updated.causes = ["loadcell/stuck", "flap/jammed"]
    updated.severity = "critical"
    with store.transaction():
        store.save_ticket(updated)
    assert store.get_ticket("tk-2") == updated
    with pytest.raises(StoreConflict), store.transaction():
        store.save_ticket(_ticket("tk-4"))


def test_commands_round_trip_newest_first(store: Store) -> None:
    first = CommandRecord("cmd-1", "bin-001", "ping", {}, T0, T0 + timedelta(minutes=1), "tech")
    second = CommandRecord(
        "cmd-2", "bin-002", "capture", {"save": True}, T0 + timedelta(seconds=1),
        T0 + timedelta(minutes=1), "tech",
    )  # fmt: skip
    with store.transaction():
        store.save_command(first)
        store.save_command(second)
    assert [c.command_id for c in store.list_commands()] == ["cmd-2", "cmd-1"]
    first.status = "ok"
    first.result = {"uptime_s": 4.0}
    first.answered_at = T0 + timedelta(seconds=2)
    second.status = "timed_out"
    second.timed_out_at = T0 + timedelta(minutes=2)
    with store.transaction():
        store.save_command(first)
        store.save_command(second)
    assert store.get_command("cmd-1") == first
    assert store.list_commands(bin_id="bin-002") == [second]
    assert store.list_commands(status="pending") == []
    assert store.get_command("cmd-9") is None


def test_pushed_configurations_round_trip_newest_first(store: Store) -> None:
    with store.transaction():
        store.save_desired(DesiredConfig("bin-001", 4, {"intake": {"min_confidence": 0.7}}, T0,
                                         "tech"))  # fmt: skip
        store.save_desired(DesiredConfig("bin-001", 5, {}, T0 + timedelta(hours=1), "admin"))
    newest = store.get_desired("bin-001")
    assert newest is not None
    assert (newest.version, newest.config, newest.actor) == (5, {}, "admin")
    older = store.get_desired("bin-001", 4)
    assert older is not None
    assert older.config == {"intake": {"min_confidence": 0.7}}
    assert store.get_desired("bin-002") is None
    with pytest.raises(StoreConflict), store.transaction():
        store.save_desired(DesiredConfig("bin-001", 5, {}, T0, "tech"))


def _announce_a_second_open_pickup(store: Store) -> None:
    with store.transaction():
        store.queue_publication("fleet/v1/pickups/north", b"{}")
        store.save_pickup(_pickup("pk-2"))  # bin-001 has pk-1 open already


def test_a_broken_uniqueness_rule_is_a_conflict_and_rolls_back_the_transaction(
    store: Store,
) -> None:
    _save(store, _pickup("pk-1"))
    with pytest.raises(StoreConflict) as conflict:
        _announce_a_second_open_pickup(store)
    assert not store.is_transient(conflict.value)
    assert store.pending_publications() == []
    assert [p.pickup_id for p in store.list_pickups()] == ["pk-1"]


def test_only_a_store_that_may_recover_is_worth_retrying(store: Store) -> None:
    assert store.is_transient(StoreUnavailable("database is locked"))
    assert not store.is_transient(StoreConflict("one open pickup per bin"))
    assert not store.is_transient(StoreError("no such column"))
    assert not store.is_transient(KeyError("bug"))
