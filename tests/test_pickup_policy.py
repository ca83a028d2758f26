"""Pickup policy: lead time, threshold, hysteresis, alarm priority, one pickup per bin,
escalation, schedulers' actions and completion only on evidence.

These drive :class:`cloud_bridge.engine.processor.Processor` on an in-memory store with a
clock the test moves; :meth:`Processor.tick` is what the bridge's writer runs
periodically on its clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import BatchOutcome, Processor
from cloud_bridge.errors import Conflict, InvalidAction, NotFound
from cloud_bridge.store.sqlite.store import SQLiteStore
from protocol import Pickup, State, Telemetry, TopicKind, bin_topic, decode, encode
from tests.support import bin_messages as msg
from tests.support.bin_messages import T0
from tests.support.bridge_fixtures import FakeNow


def make(store: SQLiteStore, clock: FakeNow, **pickups: object) -> Processor:
    settings = validate_settings(
        {
            "pickups": {"pickup_threshold_pct": 80, "lead_time_hours": 24, **pickups},
            "forecast": {"interval_s": 0},
        }
    )
    return Processor(settings, store, clock)


def published(outcome: BatchOutcome) -> list[Pickup]:
    return [
        decode(Pickup, p.payload)
        for p in outcome.publications
        if p.topic.startswith("fleet/v1/pickups/")
    ]


def feed(processor: Processor, *messages: tuple[str, bytes]) -> list[Pickup]:
    return published(processor.process([Inbound(topic, payload) for topic, payload in messages]))


def reading(
    bin_id: str, seq: int, fill: float, at: datetime, *, synced: bool = True, door: str = "closed"
) -> tuple[str, bytes]:
    """A telemetry message taken at ``at`` (bin time)."""
    message = Telemetry(
        bin_id=bin_id,
        seq=seq,
        boot_id="boot-1",
        ts=at,
        clock_synced=synced,
        fill_pct=fill,
        fill_mm=None,
        weight_kg=None,
        temp_c=18.0,
        door=door,  # type: ignore[arg-type]
        deposits_since_empty=0,
    )
    return bin_topic(bin_id, TopicKind.TELEMETRY), encode(message)


def fill_for(
    processor: Processor, clock: FakeNow, bin_id: str, hours: float, rate: float, *, seq: int = 10,
    start: float = 10.0,
) -> int:  # fmt: skip
    """Readings every 10 min for ``hours`` at ``rate`` %/h, delivered as they are taken."""
    for step in range(int(hours * 6) + 1):
        feed(processor, reading(bin_id, seq, start + rate * step / 6, clock.now))
        seq += 1
        clock.advance(minutes=10)
    return seq


def nowhere_state(bin_id: str, seq: int) -> tuple[str, bytes]:
    """A birth whose location is null (the bin's configuration has none)."""
    message = State(
        bin_id=bin_id, seq=seq, boot_id="boot-1", ts=T0, clock_synced=True, online=True,
        bd_seq=1, agent_version="0.1.0", config_version=1, reason="connect",
        region="north", location=None,
    )  # fmt: skip
    return bin_topic(bin_id, TopicKind.STATE), encode(message)


def tick(processor: Processor) -> list[Pickup]:
    return published(processor.tick())


def test_a_forecast_within_the_lead_time_requests_the_pickup(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    seq = fill_for(p, clock, "bin-001", 10, 2.0)  # 10 % -> 30 %, full (95 %) in ~32 h
    assert tick(p) == []
    forecast = p.forecasts.get("bin-001")
    assert forecast is not None
    assert forecast.predicted_full_at is not None
    assert forecast.predicted_full_at - clock.now > timedelta(hours=24)
    fill_for(p, clock, "bin-001", 10, 2.0, seq=seq, start=30.0)  # 50 %: full in ~22 h
    (requested,) = tick(p)
    assert (requested.status, requested.reason, requested.priority) == (
        "requested",
        "forecast",
        "normal",
    )
    assert requested.predicted_full_at is not None
    assert requested.forecast_low is not None
    assert requested.forecast_high is not None
    assert requested.forecast_low <= requested.predicted_full_at <= requested.forecast_high
    left = requested.predicted_full_at - clock.now
    assert timedelta(hours=19) < left < timedelta(hours=24)
    # collect before it is full: by the band's early end (full by then one time in ten)
    assert requested.due_by == requested.forecast_low
    assert requested.due_by < requested.predicted_full_at
    assert tick(p) == []  # a second forecast changes nothing worth telling


def test_a_region_may_take_due_by_from_the_predicted_median_instead(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock, due_by_forecast="predicted")
    feed(p, msg.state("bin-001", 1))
    fill_for(p, clock, "bin-001", 20, 2.0)  # 10 % -> 50 %: full in ~22 h
    (requested,) = tick(p)
    assert requested.reason == "forecast"
    assert requested.due_by == requested.predicted_full_at


def test_a_quiet_bin_gets_its_pickup_when_its_full_time_enters_the_lead_time(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    fill_for(p, clock, "bin-001", 10, 2.0)  # 10 % -> 30 %, full (95 %) in ~32 h
    assert tick(p) == []
    forecast = p.forecasts.get("bin-001")
    assert forecast is not None
    assert forecast.predicted_full_at is not None
    # the bin falls silent; its predicted full time does not move, but comes nearer
    clock.advance(hours=6)
    assert tick(p) == []
    clock.advance(hours=3)
    (requested,) = tick(p)
    assert (requested.reason, requested.status) == ("forecast", "requested")
    assert requested.predicted_full_at == forecast.predicted_full_at
    assert forecast.predicted_full_at - clock.now <= timedelta(hours=24)
    # ... and it is escalated when due_by passes, still without a reading
    clock.advance(hours=30)
    (escalated,) = tick(p)
    assert (escalated.pickup_id, escalated.status) == (requested.pickup_id, "escalated")


def test_the_threshold_requests_first_when_it_comes_sooner(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock, lead_time_hours=1)
    feed(p, msg.state("bin-001", 1))
    fill_for(p, clock, "bin-001", 6, 2.0, start=70.0)  # crosses 80 % after 5 h
    tick(p)
    (pickup,) = store.list_pickups()
    assert (pickup.reason, pickup.status) == ("threshold", "requested")
    assert pickup.bin_id == "bin-001"


def test_one_pickup_per_bin_however_it_is_triggered(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    fill_for(p, clock, "bin-001", 20, 2.5, start=20.0)  # forecast, then threshold
    tick(p)
    feed(p, msg.alarm("bin-001", 900, "overflow"))
    tick(p)
    pickups = store.list_pickups()
    assert len(pickups) == 1
    assert pickups[0].reason == "forecast"
    assert pickups[0].priority == "high"


def test_noise_around_the_threshold_does_not_republish(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock, republish_fill_step_pct=10)
    feed(p, msg.state("bin-001", 1))
    (first,) = feed(p, reading("bin-001", 2, 81.0, clock.now))
    noisy = [78.0, 82.0, 77.5, 81.5, 79.0, 83.0]
    assert [feed(p, reading("bin-001", 3 + i, f, clock.now)) for i, f in enumerate(noisy)] == [
        [] for _ in noisy
    ]
    (only,) = store.list_pickups()
    assert only.pickup_id == first.pickup_id
    assert only.crossings == 1


def test_one_noisy_reading_neither_opens_nor_re_crosses_a_pickup(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock, republish_fill_step_pct=50, fill_median_readings=3)
    feed(p, msg.state("bin-001", 1))
    for seq, fill in enumerate([40.0, 41.0, 97.0, 42.0, 43.0], start=2):  # an echo off the lid
        assert feed(p, reading("bin-001", seq, fill, clock.now)) == []
    assert store.list_pickups() == []
    # a real rise is followed within a reading (median of the last three)
    assert feed(p, reading("bin-001", 7, 84.0, clock.now)) == []
    (requested,) = feed(p, reading("bin-001", 8, 85.0, clock.now))
    assert requested.fill_pct == 84.0
    # one wild low reading under the hysteresis band does not re-arm a crossing
    for seq, fill in enumerate([86.0, 30.0, 86.5, 87.0], start=9):
        assert feed(p, reading("bin-001", seq, fill, clock.now)) == []
    (only,) = store.list_pickups()
    assert (only.pickup_id, only.crossings) == (requested.pickup_id, 1)


@pytest.mark.parametrize(
    ("message", "priority", "due_hours"),
    [
        (msg.alarm("bin-001", 2, "fire"), "urgent", 1),
        (msg.alarm("bin-001", 2, "overflow"), "high", 4),
        (msg.telemetry("bin-001", 2, 85.0, door="locked"), "high", 4),
        (msg.telemetry("bin-001", 2, 85.0), "normal", 24),
    ],
)
def test_priority_comes_from_alarms_and_the_door(
    store: SQLiteStore,
    clock: FakeNow,
    message: tuple[str, bytes],
    priority: str,
    due_hours: float,
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (pickup,) = feed(p, message)
    assert pickup.priority == priority
    assert pickup.due_by == clock.now + timedelta(hours=due_hours)


def test_fire_on_an_open_pickup_makes_it_urgent_and_due_sooner(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (normal,) = feed(p, msg.telemetry("bin-001", 2, 85.0))
    clock.advance(hours=2)
    (urgent,) = feed(p, msg.alarm("bin-001", 3, "fire"))
    assert urgent.pickup_id == normal.pickup_id
    assert urgent.priority == "urgent"
    assert urgent.due_by == clock.now + timedelta(hours=1)
    # a tilt alarm is a technician's matter, not a pickup's
    feed(p, msg.state("bin-002", 1))
    assert feed(p, msg.alarm("bin-002", 2, "tilt")) == []


def test_little_time_left_raises_the_priority(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    fill_for(p, clock, "bin-001", 6, 2.0, start=60.0)  # 72 %: full in ~11.5 h
    (requested,) = tick(p)
    assert requested.priority == "normal"
    fill_for(p, clock, "bin-001", 5, 2.0, seq=100, start=74.0)  # 84 %: full in ~5.5 h
    fill_for(p, clock, "bin-001", 2, 2.0, seq=200, start=84.0)  # 88 %: full in ~3.5 h
    raised = tick(p)
    assert raised[-1].priority == "high"
    assert raised[-1].pickup_id == requested.pickup_id


def test_a_pickup_past_due_is_escalated_once(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock, due_hours=6)
    feed(p, msg.state("bin-001", 1))
    (requested,) = feed(p, msg.telemetry("bin-001", 2, 85.0))
    clock.advance(hours=5)
    assert tick(p) == []
    clock.advance(hours=2)
    (escalated,) = tick(p)
    assert (escalated.status, escalated.priority) == ("escalated", "high")
    assert escalated.escalated_at == clock.now
    assert escalated.due_by == requested.due_by
    clock.advance(hours=1)
    assert tick(p) == []
    # a scheduler takes it on: scheduled, and not escalated again; past due_by, any
    # time is late, so the scheduler confirms it (without: refused, nothing changes)
    when = clock.now + timedelta(hours=2)
    with pytest.raises(Conflict, match="after the pickup's due_by") as late:
        p.act(lambda s: s.schedule(requested.pickup_id, when, "dispatch"))
    assert late.value.field == "confirm"
    assert store.list_pickups()[0].status == "escalated"
    p.act(lambda s: s.schedule(requested.pickup_id, when, "dispatch", confirm=True))
    clock.advance(hours=5)
    assert tick(p) == []
    assert store.list_pickups()[0].status == "scheduled"


def test_scheduler_actions_follow_the_lifecycle(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (requested,) = feed(p, msg.telemetry("bin-001", 2, 85.0))
    pid = requested.pickup_id
    clock.advance(minutes=5)
    record, outcome = p.act(lambda s: s.acknowledge(pid, "dispatch"))
    (acked,) = published(outcome)
    assert acked.acknowledged_at == clock.now
    assert acked.status == "requested"
    _, again = p.act(lambda s: s.acknowledge(pid, "dispatch"))
    assert again.publications == []  # idempotent
    when = clock.now + timedelta(hours=3)
    _, outcome = p.act(lambda s: s.schedule(pid, when, "dispatch", "truck 2"))
    (scheduled,) = published(outcome)
    assert (scheduled.status, scheduled.scheduled_for) == ("scheduled", when)
    with pytest.raises(InvalidAction) as bad:
        p.act(lambda s: s.schedule(pid, clock.now - timedelta(hours=3), "dispatch"))
    assert bad.value.field == "scheduled_for"
    assert store.get_pickup(pid).scheduled_for == when  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        p.act(lambda s: s.acknowledge("pk-nope", "dispatch"))
    _, outcome = p.act(lambda s: s.cancel(pid, "bin is being replaced", "dispatch"))
    (cancelled,) = published(outcome)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "bin is being replaced")
    assert cancelled.closed_at == clock.now
    with pytest.raises(Conflict, match="cancelled"):
        p.act(lambda s: s.schedule(pid, when, "dispatch"))
    assert record.pickup_id == pid


def test_after_a_cancellation_only_an_alarm_or_an_emptying_brings_a_new_pickup(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (first,) = feed(p, msg.telemetry("bin-001", 2, 85.0))
    p.act(lambda s: s.cancel(first.pickup_id, "duplicate", "dispatch"))
    assert feed(p, msg.telemetry("bin-001", 3, 90.0)) == []
    assert store.load_bins()[0].pickup_hold
    (alarmed,) = feed(p, msg.alarm("bin-001", 4, "overflow"))
    assert (alarmed.reason, alarmed.priority) == ("alarm", "high")
    (collected,) = feed(p, msg.emptied("bin-001", 5))
    assert collected.status == "collected"
    assert not store.load_bins()[0].pickup_hold
    (fresh,) = feed(p, msg.telemetry("bin-001", 6, 86.0))
    assert fresh.reason == "threshold"


def test_collection_needs_evidence(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock, emptied_confirm_readings=2)
    feed(p, msg.state("bin-001", 1))
    (requested,) = feed(p, msg.telemetry("bin-001", 2, 88.0))
    when = clock.now + timedelta(hours=1)
    p.act(lambda s: s.schedule(requested.pickup_id, when, "dispatch"))
    clock.advance(hours=3)
    tick(p)
    assert store.list_pickups()[0].open  # the schedule passing proves nothing
    # one low reading, then the bin reads full again: a glitch, not an emptying
    assert feed(p, msg.telemetry("bin-001", 3, 1.0)) == []
    feed(p, msg.telemetry("bin-001", 4, 89.0))
    assert feed(p, msg.telemetry("bin-001", 5, 2.0)) == []
    (collected,) = feed(p, msg.telemetry("bin-001", 6, 1.5))
    assert (collected.status, collected.pickup_id) == ("collected", requested.pickup_id)
    assert store.load_bins()[0].emptied_seq == 5


def test_forecast_uses_bin_time_when_synced_and_reception_time_when_not(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1), msg.state("bin-002", 1))
    # ten hours of readings replayed at once after an outage: same reception time
    clock.advance(hours=12)
    for step in range(61):
        at = T0 + timedelta(minutes=10 * step)
        feed(
            p,
            reading("bin-001", 10 + step, 10 + step / 3, at, synced=True),
            reading("bin-002", 10 + step, 10 + step / 3, at, synced=False),
        )
    tick(p)
    synced = p.forecasts.get("bin-001")
    unsynced = p.forecasts.get("bin-002")
    assert synced is not None
    assert unsynced is not None
    assert synced.rate_pct_per_h == pytest.approx(2.0, abs=0.05)
    assert unsynced.method == "insufficient"  # all at one reception time: no span to fit


def test_an_emptying_starts_the_forecast_afresh(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    seq = fill_for(p, clock, "bin-001", 10, 4.0, start=40.0)  # 80 %: threshold pickup
    feed(p, msg.emptied("bin-001", seq))
    tick(p)
    forecast = p.forecasts.get("bin-001")
    assert forecast is not None
    assert forecast.method == "insufficient"
    assert store.list_pickups(open_only=True) == []
    assert tick(p) == []  # no pickup from the old cycle's forecast


def test_fill_and_location_are_never_null_on_the_wire(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    # a bin with no location that never measured a fill raises an alarm
    feed(p, nowhere_state("bin-001", 1), msg.telemetry("bin-001", 2, None))
    outcome = p.process([Inbound(*msg.alarm("bin-001", 3, "fire"))])
    (raw,) = [x.payload for x in outcome.publications if x.topic.startswith("fleet/v1/pickups/")]
    assert b'"fill_pct":null' not in raw
    assert b'"location":null' not in raw
    fired = decode(Pickup, raw)
    assert fired.fill_pct == 0.0  # nothing measured since the last emptying
    assert fired.location is not None
    assert (fired.location.lat, fired.location.lon) == (None, None)
    # an overflow with the fill sensor failed after a reading: the last reading counts
    feed(p, msg.state("bin-002", 1), msg.telemetry("bin-002", 2, 64.0))
    feed(p, msg.telemetry("bin-002", 3, None))
    (overflow,) = feed(p, msg.alarm("bin-002", 4, "overflow"))
    assert overflow.fill_pct == 64.0
    assert overflow.location is not None
    assert (overflow.location.lat, overflow.location.lon) == (52.5, 13.4)
    # a later birth without a location does not erase the one the pickup carries
    feed(p, nowhere_state("bin-002", 5))
    (cancelled,) = published(p.act(lambda s: s.cancel(overflow.pickup_id, "test", "dispatch"))[1])
    assert cancelled.location == overflow.location
    assert cancelled.fill_pct == 64.0
    # ... and an overflow with nothing ever measured is a full bin
    feed(p, msg.state("bin-003", 1))
    (full,) = feed(p, msg.alarm("bin-003", 2, "overflow"))
    assert full.fill_pct == 100.0


def test_every_publication_of_a_pickup_carries_the_next_revision(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (requested,) = feed(p, msg.telemetry("bin-001", 2, 85.0))
    pid = requested.pickup_id
    (acked,) = published(p.act(lambda s: s.acknowledge(pid, "dispatch"))[1])
    assert (requested.revision, acked.revision) == (1, 2)
    # the revision survives a restart of the bridge
    again = make(store, clock)
    when = clock.now + timedelta(hours=2)
    (scheduled,) = published(again.act(lambda s: s.schedule(pid, when, "dispatch"))[1])
    assert (scheduled.status, scheduled.revision) == ("scheduled", 3)
    assert store.get_pickup(pid).revision == 3  # type: ignore[union-attr]


def test_a_forecast_reads_at_most_history_days_of_readings(
    store: SQLiteStore, clock: FakeNow
) -> None:
    # A bin never seen emptied: its first readings stop counting once they are too old.
    p = Processor(
        validate_settings({"forecast": {"interval_s": 0, "history_days": 1}}), store, clock
    )
    feed(p, msg.state("bin-001", 1))
    seq = fill_for(p, clock, "bin-001", 20, 0.5)  # 20 h at 0.5 %/h
    fill_for(p, clock, "bin-001", 20, 2.0, seq=seq, start=20.0)  # then 20 h at 2 %/h
    tick(p)
    forecast = p.forecasts.get("bin-001")
    assert forecast is not None
    assert forecast.points <= 24 * 6 + 1  # one day of readings every 10 minutes
    assert forecast.span_hours <= 24.0
    assert forecast.rate_pct_per_h == pytest.approx(2.0, abs=0.1)


def test_a_pickup_raised_by_a_wild_reading_is_withdrawn_when_the_readings_deny_it(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    feed(p, reading("bin-001", 2, 40.0, clock.now))
    (requested,) = feed(p, reading("bin-001", 3, 96.0, clock.now))  # an echo off the lid
    assert (requested.reason, requested.status) == ("threshold", "requested")
    clock.advance(minutes=30)
    (withdrawn,) = feed(p, reading("bin-001", 4, 41.0, clock.now))  # bins do not empty alone
    assert (withdrawn.pickup_id, withdrawn.status) == (requested.pickup_id, "cancelled")
    assert withdrawn.cancel_reason is not None
    assert withdrawn.cancel_reason.startswith("withdrawn")
    record = store.get_bin("bin-001")
    assert record is not None
    assert not record.pickup_hold  # unlike a scheduler's cancellation: no hold
    (again,) = feed(p, reading("bin-001", 5, 85.0, clock.now))  # a real crossing later
    assert again.pickup_id != requested.pickup_id
    assert again.status == "requested"


def test_a_pickup_is_not_withdrawn_while_the_bin_says_it_is_full(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (requested,) = feed(p, msg.alarm("bin-001", 2, "overflow"))
    feed(p, reading("bin-001", 3, 40.0, clock.now))  # the alarm stands: trust the bin
    (still,) = store.list_pickups()
    assert (still.pickup_id, still.status) == (requested.pickup_id, "requested")
