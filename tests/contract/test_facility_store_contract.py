"""Contract tests of the facility part of the Store (``FacilityStore``), on every back-end
of the ``store`` fixture: intakes with their pickups and lines, their order and filters,
received shares, dispositions, stock movements and levels, the deposits a collected
pickup took, and a second intake with one id refused as a StoreConflict."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud_bridge.domain.facility import (
    DispositionRecord,
    Intake,
    IntakeLine,
    IntakePickup,
    InventoryMovement,
)
from cloud_bridge.domain.records import PickupRecord
from cloud_bridge.errors import StoreConflict
from cloud_bridge.store.protocols import Store
from protocol import DepositEvent, ManifestEntry, decode
from tests.support import bin_messages as msg
from tests.support.bin_messages import T0

GLASS = {"glass": ManifestEntry(count=3, kg=1.5)}


def intake(intake_id: str, hours: int, *pickups: IntakePickup, facility: str = "mrf-a") -> Intake:
    return Intake(
        intake_id=intake_id,
        facility_id=facility,
        received_at=T0 + timedelta(hours=hours),
        recorded_at=T0 + timedelta(hours=hours, minutes=5),
        actor="op",
        pickups=pickups,
        lines=(IntakeLine("glass", 1.4, 3, 0.1), IntakeLine("metal", 0.2)),
        note="wet",
        distance_km=12.5,
        distance_estimated=True,
    )


def part(pickup_id: str, bin_id: str, share: float = 1.0) -> IntakePickup:
    return IntakePickup(pickup_id, bin_id, "north", share, GLASS)


def test_intakes_are_stored_whole_and_listed_in_order_with_filters(store: Store) -> None:
    with store.transaction():
        store.add_intake(intake("in-b", 2, part("pk-1", "bin-001", 0.25), part("pk-2", "bin-002")))
        store.add_intake(intake("in-a", 2, part("pk-1", "bin-001", 0.75), facility="mrf-b"))
        store.add_intake(intake("in-c", 1, part("pk-3", "bin-003")))
    got = store.get_intake("in-b")
    assert got == intake("in-b", 2, part("pk-1", "bin-001", 0.25), part("pk-2", "bin-002"))
    assert store.get_intake("in-x") is None
    # by received_at, then the order recorded (not the id)
    assert [i.intake_id for i in store.list_intakes()] == ["in-c", "in-b", "in-a"]
    assert [i.intake_id for i in store.list_intakes(newest_first=True, limit=2)] == [
        "in-a",
        "in-b",
    ]
    assert [i.intake_id for i in store.list_intakes(pickup_id="pk-1")] == ["in-b", "in-a"]
    assert [i.intake_id for i in store.list_intakes(bin_id="bin-002")] == ["in-b"]
    assert [i.intake_id for i in store.list_intakes(facility_id="mrf-b")] == ["in-a"]
    since, until = T0 + timedelta(hours=1, minutes=30), T0 + timedelta(hours=2)
    assert [i.intake_id for i in store.list_intakes(until=since)] == ["in-c"]
    assert [i.intake_id for i in store.list_intakes(since=since, until=until)] == []
    assert store.received_shares(["pk-1", "pk-2", "pk-9"]) == {"pk-1": 1.0, "pk-2": 1.0}


def test_an_intake_id_taken_already_is_a_conflict(store: Store) -> None:
    with store.transaction():
        store.add_intake(intake("in-a", 1, part("pk-1", "bin-001")))
    with pytest.raises(StoreConflict), store.transaction():
        store.add_intake(intake("in-a", 2, part("pk-2", "bin-002")))
    assert [i.intake_id for i in store.list_intakes()] == ["in-a"]
    assert store.received_shares(["pk-2"]) == {}


def test_dispositions_movements_and_stock(store: Store) -> None:
    decision = DispositionRecord(
        0, "in-a", "mrf-a", "glass", "reuse", 1.25, T0, "op", 2, "A", "ok", 0.5
    )
    with store.transaction():
        first = store.add_disposition(decision)
        second = store.add_disposition(
            DispositionRecord(0, "in-b", "mrf-b", "metal", "recycle", 0.2, T0, "op")
        )
        store.add_movement(
            InventoryMovement(0, "mrf-a", "glass", 1.25, "restock", T0, "op", 2, "in-a", first)
        )
        store.add_movement(InventoryMovement(0, "mrf-a", "glass", -0.5, "issue", T0, "op", -1))
        store.add_movement(InventoryMovement(0, "mrf-b", "metal", 3.0, "adjust", T0, "op"))
    assert second > first
    (got,) = store.list_dispositions(intake_ids=["in-a"])
    assert got == DispositionRecord(
        first, "in-a", "mrf-a", "glass", "reuse", 1.25, T0, "op", 2, "A", "ok", 0.5
    )
    assert [d.disposition_id for d in store.list_dispositions()] == [first, second]
    assert [d.intake_id for d in store.list_dispositions(facility_id="mrf-b")] == ["in-b"]
    assert store.list_dispositions(intake_ids=[]) == []
    assert [(m.reason, m.kg) for m in store.list_movements(facility_id="mrf-a")] == [
        ("issue", -0.5),
        ("restock", 1.25),
    ]
    assert store.list_movements(limit=1)[0].facility_id == "mrf-b"
    levels = {(s.facility_id, s.category): (s.kg, s.count) for s in store.stock()}
    assert levels == {("mrf-a", "glass"): (0.75, 1), ("mrf-b", "metal"): (3.0, 0)}
    assert [s.facility_id for s in store.stock("mrf-b")] == ["mrf-b"]


def pickup(pickup_id: str, closed_hours: int | None, status: str = "collected") -> PickupRecord:
    return PickupRecord(
        pickup_id=pickup_id,
        bin_id="bin-001",
        region="north",
        status=status,  # type: ignore[arg-type]
        priority="normal",
        reason="threshold",
        fill_pct=90.0,
        predicted_full_at=None,
        due_by=T0 + timedelta(days=1),
        location=None,
        manifest=GLASS,
        ts=T0,
        requested_at=T0,
        trigger_seq=1,
        closed_at=None if closed_hours is None else T0 + timedelta(hours=closed_hours),
    )


def test_collected_pickups_by_collection_time_and_the_deposits_each_took(store: Store) -> None:
    with store.transaction():
        store.save_pickup(pickup("pk-1", 5))
        store.save_pickup(pickup("pk-2", 1))
        store.save_pickup(pickup("pk-3", None, status="requested"))
        store.record_pickup_span("pk-2", "bin-001", 0, 10)
        store.record_pickup_span("pk-1", "bin-001", 10, 20)
        for seq in (3, 12):
            _, payload = msg.deposit("bin-001", seq, "glass")
            store.add_deposit(decode(DepositEvent, payload), T0)
    assert [p.pickup_id for p in store.collected_pickups()] == ["pk-2", "pk-1"]
    assert [p.pickup_id for p in store.collected_pickups(since=T0 + timedelta(hours=2))] == ["pk-1"]
    assert store.collected_pickups(until=T0 + timedelta(hours=1)) == []
    assert store.collected_pickups(region="south") == []
    assert store.pickup_for_deposit("bin-001", 3) == "pk-2"
    assert store.pickup_for_deposit("bin-001", 12) == "pk-1"
    assert store.pickup_for_deposit("bin-001", 10) is None  # the emptying itself
    assert store.pickup_for_deposit("bin-001", 25) is None  # still in the bin
    deposit = store.get_deposit("bin-001", 12)
    assert deposit is not None
    assert (deposit.seq, deposit.category, deposit.accepted) == (12, "glass", True)
    assert store.get_deposit("bin-001", 4) is None
