"""Tickets from what bins report: presence (stale deaths, flapping, the offline grace),
faults, alarms, health (storage, backlog, calibration drift) and configuration reports.

These drive :class:`cloud_bridge.engine.processor.Processor` on an in-memory store with a
clock the test moves; ``tests/test_technicians_end_to_end.py`` repeats the essential
cases with the real agent through Mosquitto.
"""

from __future__ import annotations

from typing import Any

from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.domain.ticket_rules import findings
from cloud_bridge.engine.processor import BatchOutcome, Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from protocol import Ticket, decode
from tests.support import bin_messages as msg
from tests.support.bridge_fixtures import FakeNow


def make(store: SQLiteStore, clock: FakeNow, **settings: Any) -> Processor:
    tickets = {"offline_grace_s": 300, **settings.pop("tickets", {})}
    return Processor(validate_settings({"tickets": tickets, **settings}), store, clock)


def published(outcome: BatchOutcome) -> list[Ticket]:
    return [
        decode(Ticket, p.payload)
        for p in outcome.publications
        if p.topic.startswith("fleet/v1/tickets/")
    ]


def feed(processor: Processor, *messages: tuple[str, bytes]) -> list[Ticket]:
    """Process messages as one batch; return the ticket messages it published."""
    return published(processor.process([Inbound(topic, payload) for topic, payload in messages]))


def tick(processor: Processor) -> list[Ticket]:
    return published(processor.tick())


# -- presence -------------------------------------------------------------------------


def test_a_stale_death_never_marks_a_live_bin_offline(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1, bd_seq=1))
    feed(p, msg.state("bin-001", 5, bd_seq=2))  # reconnected
    # The Will of the first connection arrives late (the broker noticed the old link die).
    assert feed(p, msg.state("bin-001", 2, bd_seq=1, online=False)) == []
    clock.advance(hours=2)
    assert tick(p) == []
    (record,) = store.load_bins()
    assert record.online
    assert record.offline_since is None
    assert store.list_tickets() == []


def test_an_offline_bin_gets_one_ticket_after_the_grace_and_it_resolves_on_return(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1, bd_seq=1))
    clock.advance(minutes=10)
    died_at = clock.now
    assert feed(p, msg.state("bin-001", 9, bd_seq=1, online=False)) == []
    clock.advance(seconds=299)
    assert tick(p) == []
    clock.advance(seconds=1)
    (opened,) = tick(p)
    assert (opened.kind, opened.status, opened.severity) == ("offline", "open", "warning")
    assert opened.opened_at == clock.now
    assert opened.region == "north"
    assert opened.causes == ["lost"]
    assert opened.detail is not None
    assert died_at.strftime("%Y-%m-%dT%H:%M") in opened.detail
    clock.advance(hours=1)
    assert tick(p) == []  # still offline: nothing new to say
    (resolved,) = feed(p, msg.state("bin-001", 10, bd_seq=2))
    assert (resolved.ticket_id, resolved.status) == (opened.ticket_id, "resolved")
    assert resolved.resolved_at == clock.now
    # Offline again later: a new ticket with a new id, never the old one reopened.
    feed(p, msg.state("bin-001", 11, bd_seq=2, online=False))
    clock.advance(minutes=6)
    (again,) = tick(p)
    assert again.ticket_id != opened.ticket_id
    assert [t.status for t in store.list_tickets(kind="offline")] == ["resolved", "open"]


def test_flapping_opens_at_most_one_ticket_and_only_after_the_grace(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    seen: list[Ticket] = []
    for bd_seq in range(1, 7):  # six connections within a few minutes
        seen += feed(p, msg.state("bin-001", bd_seq * 10, bd_seq=bd_seq))
        clock.advance(seconds=20)
        seen += tick(p)
        seen += feed(p, msg.state("bin-001", bd_seq * 10 + 1, bd_seq=bd_seq, online=False))
        clock.advance(seconds=40)
        seen += tick(p)
    assert seen == []  # never offline for the whole grace
    for _ in range(10):  # then it stays away
        clock.advance(seconds=60)
        seen += tick(p)
    (opened,) = seen
    assert opened.kind == "offline"
    # Its Will and birth delivered late and out of order change nothing.
    assert feed(p, msg.state("bin-001", 31, bd_seq=3, online=False)) == []
    assert feed(p, msg.state("bin-001", 40, bd_seq=4)) == []
    (resolved,) = feed(p, msg.state("bin-001", 70, bd_seq=7))
    assert (resolved.ticket_id, resolved.status) == (opened.ticket_id, "resolved")


def test_the_offline_grace_can_differ_per_region(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock, tickets={"regions": {"south": {"offline_grace_s": 3600}}})
    feed(
        p,
        msg.state("bin-001", 1, region="north"),
        msg.state("bin-002", 1, region="south"),
    )
    feed(
        p,
        msg.state("bin-001", 2, online=False, region="north"),
        msg.state("bin-002", 2, online=False, region="south"),
    )
    clock.advance(minutes=10)
    assert [t.bin_id for t in tick(p)] == ["bin-001"]
    clock.advance(minutes=50)
    (south,) = tick(p)
    assert (south.bin_id, south.region) == ("bin-002", "south")


# -- faults and alarms ------------------------------------------------------------------


def test_two_sensor_faults_are_one_ticket_updated_in_place(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (opened,) = feed(p, msg.fault("bin-001", 2, "ultrasonic", "no_echo", detail="no echo x3"))
    assert (opened.kind, opened.severity, opened.causes) == (
        "sensor_fault",
        "warning",
        ["ultrasonic/no_echo"],
    )
    assert opened.detail == "ultrasonic/no_echo: no echo x3"
    (updated,) = feed(p, msg.fault("bin-001", 3, "loadcell", "stuck"))
    assert updated.ticket_id == opened.ticket_id
    assert updated.status == "open"
    assert updated.causes == ["loadcell/stuck", "ultrasonic/no_echo"]
    # A camera fault is a ticket of its own kind.
    (camera,) = feed(p, msg.fault("bin-001", 4, "camera", "timeout"))
    assert camera.kind == "camera_fault"
    assert camera.ticket_id != opened.ticket_id
    # One cause clears: the same ticket, updated; both clear: resolved.
    (fewer,) = feed(p, msg.fault("bin-001", 5, "ultrasonic", "no_echo", active=False))
    assert (fewer.ticket_id, fewer.causes) == (opened.ticket_id, ["loadcell/stuck"])
    (resolved,) = feed(p, msg.fault("bin-001", 6, "loadcell", "stuck", active=False))
    assert (resolved.ticket_id, resolved.status) == (opened.ticket_id, "resolved")
    # A late, older report of the fault changes nothing; a new occurrence is a new ticket.
    assert feed(p, msg.fault("bin-001", 4, "loadcell", "stuck")) == []
    (new,) = feed(p, msg.fault("bin-001", 7, "loadcell", "stuck"))
    assert new.ticket_id not in (opened.ticket_id, camera.ticket_id)
    assert len(store.list_tickets(open_only=True)) == 2  # camera + the new sensor ticket


def test_a_long_detail_is_clipped(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (opened,) = feed(p, msg.fault("bin-001", 2, "door", "stuck", detail="x" * 5000))
    assert opened.detail is not None
    assert len(opened.detail) == 2000
    assert opened.detail.endswith("...")


def test_a_fault_raised_and_cleared_in_one_batch_opens_nothing(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    assert (
        feed(
            p,
            msg.fault("bin-001", 2, "door", "bounce"),
            msg.fault("bin-001", 3, "door", "bounce", active=False),
        )
        == []
    )


def test_a_component_failed_in_health_is_critical(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    (opened,) = feed(p, msg.fault("bin-001", 2, "loadcell", "hx711_stuck"))
    assert opened.severity == "warning"
    (worse,) = feed(p, msg.health("bin-001", 3, sensors={"loadcell": "failed"}))
    assert (worse.ticket_id, worse.severity) == (opened.ticket_id, "critical")
    # The fault clears after that health report: the older "failed" no longer counts.
    (resolved,) = feed(p, msg.fault("bin-001", 4, "loadcell", "hx711_stuck", active=False))
    assert resolved.status == "resolved"
    # A bridge that missed the fault event still learns of the failure from health.
    (from_health,) = feed(p, msg.health("bin-001", 5, sensors={"flap": "failed"}))
    assert (from_health.causes, from_health.severity) == (["flap/failed"], "critical")
    (gone,) = feed(p, msg.health("bin-001", 6, sensors={"flap": "ok"}))
    assert gone.status == "resolved"


def test_alarms_make_a_ticket_fire_is_critical_and_overflow_is_for_pickups(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    assert feed(p, msg.alarm("bin-001", 2, "overflow")) == []
    (opened,) = feed(p, msg.alarm("bin-001", 3, "tamper", detail="lid forced"))
    assert (opened.kind, opened.severity) == ("alarm", "warning")
    assert opened.detail == "tamper: lid forced"
    (fire,) = feed(p, msg.alarm("bin-001", 4, "fire", detail="82 °C"))
    assert (fire.ticket_id, fire.severity, fire.causes) == (
        opened.ticket_id,
        "critical",
        ["fire", "tamper"],
    )
    (calmer,) = feed(p, msg.alarm("bin-001", 5, "fire", active=False))
    assert (calmer.severity, calmer.causes) == ("warning", ["tamper"])
    (resolved,) = feed(p, msg.alarm("bin-001", 6, "tamper", active=False))
    assert resolved.status == "resolved"
    assert all(t.kind == "alarm" for t in store.list_tickets())


# -- health -----------------------------------------------------------------------------


def test_low_storage_from_health_or_the_bins_own_fault(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    assert feed(p, msg.health("bin-001", 2, disk_free_mb=600)) == []
    (opened,) = feed(p, msg.health("bin-001", 3, disk_free_mb=450))
    assert (opened.kind, opened.causes) == ("storage_low", ["disk_free"])
    assert opened.detail == "450 MB free on the bin (bound 500 MB)"
    assert feed(p, msg.health("bin-001", 4, disk_free_mb=440)) == []  # same cause, no news
    (both,) = feed(p, msg.fault("bin-001", 5, "storage", "low_disk", detail="150 MB free"))
    assert both.causes == ["disk_free", "storage/low_disk"]
    feed(p, msg.fault("bin-001", 6, "storage", "low_disk", active=False))
    (resolved,) = feed(p, msg.health("bin-001", 7, disk_free_mb=5000))
    assert (resolved.ticket_id, resolved.status) == (opened.ticket_id, "resolved")


def test_an_outbox_backing_up_for_long_opens_a_ticket_a_drain_does_not(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    # Back from an outage: its old health reports arrive within seconds, then a fresh one.
    assert feed(p, msg.health("bin-001", 2, outbox_depth=5000, outbox_oldest_s=7200)) == []
    clock.advance(seconds=5)
    assert feed(p, msg.health("bin-001", 3, outbox_depth=2500, outbox_oldest_s=3000)) == []
    clock.advance(seconds=5)
    assert feed(p, msg.health("bin-001", 4, outbox_depth=2)) == []
    clock.advance(hours=1)
    assert tick(p) == []
    # An outbox that keeps backing up while connected.
    feed(p, msg.health("bin-001", 5, outbox_depth=1200, outbox_oldest_s=60))
    clock.advance(minutes=10)
    assert feed(p, msg.health("bin-001", 6, outbox_depth=1500, outbox_oldest_s=660)) == []
    clock.advance(minutes=5)
    (opened,) = tick(p)
    assert (opened.kind, opened.causes) == ("outbox_backlog", ["outbox"])
    assert "1500 messages unsent" in (opened.detail or "")
    (resolved,) = feed(p, msg.health("bin-001", 7, outbox_depth=0))
    assert resolved.status == "resolved"
    # The bin's own outbox_full fault opens it at once.
    (full,) = feed(p, msg.fault("bin-001", 8, "storage", "outbox_full"))
    assert (full.kind, full.causes) == ("outbox_backlog", ["storage/outbox_full"])


def test_calibration_drift_needs_consecutive_reports_both_ways(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1))
    seen = feed(p, msg.health("bin-001", 2, tray_idle_g=14.0))
    seen += feed(p, msg.health("bin-001", 3, tray_idle_g=-12.5))
    seen += feed(p, msg.health("bin-001", 4, tray_idle_g=3.0))  # back within: count restarts
    seen += feed(p, msg.health("bin-001", 5, tray_idle_g=15.0))
    seen += feed(p, msg.health("bin-001", 6, tray_idle_g=None))  # unknown: counts for nothing
    seen += feed(p, msg.health("bin-001", 7, tray_idle_g=16.0))
    assert seen == []
    (opened,) = feed(p, msg.health("bin-001", 8, tray_idle_g=17.5))
    assert (opened.kind, opened.severity) == ("calibration_drift", "info")
    assert opened.detail is not None
    assert "+17.5 g" in opened.detail
    assert "tare" in opened.detail
    later = feed(p, msg.health("bin-001", 9, tray_idle_g=0.5))
    later += feed(p, msg.health("bin-001", 10, tray_idle_g=0.2))
    assert later == []  # one or two good readings are not enough to call it fixed
    (resolved,) = feed(p, msg.health("bin-001", 11, tray_idle_g=-0.3))
    assert resolved.status == "resolved"


def test_thresholds_come_from_the_settings(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock, tickets={"drift_bound_g": 50, "drift_reports": 1,
                                    "storage_low_mb": 100})  # fmt: skip
    feed(p, msg.state("bin-001", 1))
    assert feed(p, msg.health("bin-001", 2, tray_idle_g=40.0, disk_free_mb=150)) == []
    (drift,) = feed(p, msg.health("bin-001", 3, tray_idle_g=60.0, disk_free_mb=150))
    assert drift.kind == "calibration_drift"


# -- configuration ----------------------------------------------------------------------


def test_a_configuration_not_applied_is_a_ticket(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock, tickets={"config_grace_s": 600})
    feed(p, msg.state("bin-001", 1))  # config_version 3

    def push(config: dict[str, Any]) -> tuple[int, list[Ticket]]:
        (desired,), outcome = p.run(
            lambda: p.push_config(config, bin_id="bin-001", region=None, actor="tech")
        )
        return desired.version, published(outcome)

    version, seen = push({"intake": {"min_confidence": 0.8}})
    assert (version, seen) == (4, [])
    (rejected,) = feed(
        p, msg.config_reported("bin-001", 2, 4, "rejected", "thresholds.unlock_fill_pct: too high")
    )
    assert (rejected.kind, rejected.causes) == ("config_not_applied", ["v4/rejected"])
    assert "thresholds.unlock_fill_pct: too high" in (rejected.detail or "")
    # A newer push supersedes the rejected version: that ticket resolves at once.
    version, seen = push({"intake": {"min_confidence": 0.7}})
    assert version == 5
    assert [(t.ticket_id, t.status) for t in seen] == [(rejected.ticket_id, "resolved")]
    clock.advance(seconds=599)
    assert tick(p) == []
    clock.advance(seconds=1)
    (overdue,) = tick(p)
    assert overdue.causes == ["v5/overdue"]
    assert "no report of it applied after 600 s" in (overdue.detail or "")
    (applied,) = feed(p, msg.config_reported("bin-001", 3, 5, "applied"))
    assert (applied.ticket_id, applied.status) == (overdue.ticket_id, "resolved")
    _, seen = push({"intake": {"min_confidence": 0.9}})
    (rolled,) = feed(p, msg.config_reported("bin-001", 4, 6, "rolled_back", "intake.x: no"))
    assert rolled.causes == ["v6/rolled_back"]


def test_findings_of_a_quiet_bin_are_empty(store: SQLiteStore, clock: FakeNow) -> None:
    p = make(store, clock)
    feed(p, msg.state("bin-001", 1), msg.health("bin-001", 2), msg.telemetry("bin-001", 3))
    (record,) = store.load_bins()
    assert findings(record, p.tickets.policy("north"), clock.now) == {}


# -- publication, storage, delivery -----------------------------------------------------


def test_tickets_are_published_per_region_stored_and_sent_to_webhooks_that_want_them(
    store: SQLiteStore, clock: FakeNow
) -> None:
    p = make(
        store,
        clock,
        webhooks=[
            {"name": "field", "url": "http://127.0.0.1:9/x", "secret_env": "X"},
            {"name": "dispatch", "url": "http://127.0.0.1:9/y", "secret_env": "Y",
             "kinds": ["pickup"]},
        ],
    )  # fmt: skip
    feed(p, msg.state("bin-001", 1, region="south"))
    outcome = p.process([Inbound(*msg.alarm("bin-001", 2, "tilt"))])
    (publication,) = outcome.publications
    assert publication.topic == "fleet/v1/tickets/south"
    assert not publication.retain
    assert outcome.webhooks == 1
    (delivery,) = store.list_deliveries()
    assert (delivery.endpoint, delivery.kind) == ("field", "ticket")
    assert delivery.body == publication.payload
    ticket = decode(Ticket, publication.payload)
    (stored,) = store.list_tickets(open_only=True, region="south", bin_id="bin-001", kind="alarm")
    assert stored.message() == ticket
    assert store.get_ticket(ticket.ticket_id) == stored


def test_open_tickets_survive_a_restart_of_the_bridge(store: SQLiteStore, clock: FakeNow) -> None:
    first = make(store, clock)
    feed(first, msg.state("bin-001", 1))
    (opened,) = feed(first, msg.fault("bin-001", 2, "flap", "jammed"))
    second = make(store, clock)
    assert feed(second, msg.fault("bin-001", 3, "flap", "jammed")) == []  # already open
    (resolved,) = feed(second, msg.fault("bin-001", 4, "flap", "jammed", active=False))
    assert resolved.ticket_id == opened.ticket_id
