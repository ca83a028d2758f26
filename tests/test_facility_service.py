"""The facility service on the writer's path (a processor, an in-memory store): intakes
of collected pickups, split and shared loads, refusals that change nothing, the
classification_drift ticket opening and resolving, dispositions within a lot, stock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from cloud_bridge.domain.facility import IntakeLine
from cloud_bridge.engine.processor import Processor
from cloud_bridge.errors import ActionError, Conflict, InvalidAction, NotFound
from cloud_bridge.services.facility import (
    DispositionRequest,
    FacilityService,
    IntakeRequest,
    MovementRequest,
    NotPermitted,
    PickupPart,
)
from cloud_bridge.store.sqlite.store import SQLiteStore
from cloud_bridge.views.facility import contamination_rows
from protocol import Ticket, decode
from tests.support.facility import NOW, Bins, settings

_T = TypeVar("_T")


class Rig:
    """A processor with facilities, bins that get collected, and the actions' outcomes."""

    def __init__(self) -> None:
        self.store = SQLiteStore(":memory:")
        self.processor = Processor(settings(), self.store, lambda: NOW)
        self.bins = Bins(self.processor, self.store)
        self.published: list[Ticket] = []

    def act(self, action: Callable[[FacilityService], _T]) -> _T:
        result, outcome = self.processor.run(lambda: action(self.processor.facility))
        self.published += [
            decode(Ticket, p.payload, topic=p.topic)
            for p in outcome.publications
            if "/tickets/" in p.topic
        ]
        return result

    def intake(
        self, pickups: list[PickupPart], lines: list[IntakeLine], facility: str = "mrf-north"
    ) -> str:
        request = IntakeRequest(facility, pickups, lines)
        return self.act(lambda s: s.record_intake(request, "operator")).intake_id

    def snapshot(self) -> tuple[int, int, int]:
        return (
            len(self.store.list_intakes()),
            len(self.store.list_dispositions()),
            len(self.store.list_movements()),
        )


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = Rig()
    yield made
    made.store.close()


def test_several_pickups_in_one_load_and_a_split_pickup(rig: Rig) -> None:
    a = rig.bins.collect("bin-001", [("glass", 4000), ("metal", 1000)])
    b = rig.bins.collect("bin-002", [("glass", 2000)])
    first = rig.intake([PickupPart(a, 0.5), PickupPart(b)], [IntakeLine("glass", 4.1)])
    assert rig.store.received_shares([a, b]) == {a: 0.5, b: 1.0}
    second = rig.intake([PickupPart(a)], [IntakeLine("glass", 2.0), IntakeLine("metal", 0.5)])
    assert rig.store.received_shares([a]) == {a: 1.0}  # the rest of it, by default
    load = rig.store.get_intake(first)
    assert load is not None
    assert [(p.pickup_id, p.share) for p in load.pickups] == [(a, 0.5), (b, 1.0)]
    rest = rig.store.get_intake(second)
    assert rest is not None
    assert rest.pickups[0].share == pytest.approx(0.5)
    assert rest.distance_estimated
    assert rest.distance_km is not None
    assert rest.distance_km > 0
    assert [i.intake_id for i in rig.store.list_intakes(pickup_id=a)] == [first, second]
    assert [i.intake_id for i in rig.store.list_intakes(bin_id="bin-002")] == [first]


def refused(
    rig: Rig,
    error: type[ActionError],
    field: str | None,
    action: Callable[[FacilityService], object],
) -> str:
    before = rig.snapshot()
    with pytest.raises(error) as caught:
        rig.act(action)
    assert rig.snapshot() == before  # nothing changed
    if field is not None:
        assert caught.value.field == field, caught.value
    return str(caught.value)


def test_bad_intakes_are_refused_naming_the_field_and_change_nothing(rig: Rig) -> None:
    done = rig.bins.collect("bin-001", [("glass", 1000)])
    rig.intake([PickupPart(done)], [IntakeLine("glass", 1.0)])
    fresh = rig.bins.collect("bin-002", [("glass", 1000)])
    open_one = rig.bins.request("bin-003")
    south = rig.bins.collect("bin-004", [("glass", 500)], region="south")
    glass = [IntakeLine("glass", 1.0)]

    def intake(
        pickups: list[PickupPart], lines: list[IntakeLine], facility: str = "mrf-north"
    ) -> Callable[[FacilityService], object]:
        return lambda s: s.record_intake(IntakeRequest(facility, pickups, lines), "operator")

    assert "no facility 'nowhere'" in refused(
        rig, NotFound, "facility_id", intake([PickupPart(fresh)], glass, "nowhere")
    )
    assert "no pickup 'pk-404'" in refused(
        rig, NotFound, "pickups", intake([PickupPart("pk-404")], glass)
    )
    assert "not collected" in refused(rig, Conflict, None, intake([PickupPart(open_one)], glass))
    assert "received already" in refused(rig, Conflict, None, intake([PickupPart(done)], glass))
    assert "does not serve" in refused(
        rig, InvalidAction, "pickups", intake([PickupPart(south)], glass)
    )
    assert "does not accept paper" in refused(
        rig,
        InvalidAction,
        "lines",
        intake([PickupPart(fresh)], [IntakeLine("paper", 1.0)], "glassworks"),
    )
    for bad, field in (
        (IntakeLine("glass", -1.0), "kg"),
        (IntakeLine("glass", float("nan")), "kg"),
        (IntakeLine("glass", float("inf")), "kg"),
        (IntakeLine("glass", 1.0, None, 2.0), "contaminated_kg"),
    ):
        refused(rig, InvalidAction, field, intake([PickupPart(fresh)], [bad]))
    refused(rig, InvalidAction, "lines", intake([PickupPart(fresh)], [*glass, *glass]))
    refused(rig, InvalidAction, "pickups", intake([PickupPart(fresh), PickupPart(fresh)], glass))
    refused(rig, InvalidAction, "share", intake([PickupPart(fresh, 1.5)], glass))
    rig.intake([PickupPart(fresh, 0.7)], glass)
    assert "only 0.3 of it is left" in refused(
        rig, Conflict, None, intake([PickupPart(fresh, 0.5)], glass)
    )
    assert "does not act for facility 'mrf-north'" in refused(
        rig,
        NotPermitted,
        None,
        lambda s: s.record_intake(
            IntakeRequest("mrf-north", [PickupPart(fresh)], glass), "op", frozenset({"glassworks"})
        ),
    )


def test_contamination_opens_a_drift_ticket_and_clean_intakes_resolve_it(rig: Rig) -> None:
    # threshold 10 % over the newest 2 intakes of the bin
    def load(bad_kg: float) -> None:
        pickup = rig.bins.collect("bin-007", [("glass", 10_000)])
        rig.intake([PickupPart(pickup)], [IntakeLine("glass", 10.0, None, bad_kg)])

    load(4.0)  # 40 %, but one intake is not a window yet
    assert rig.published == []
    load(0.0)  # (4 + 0) / 20 = 20 %: opens
    (opened,) = rig.published
    assert (opened.kind, opened.status, opened.bin_id, opened.severity) == (
        "classification_drift",
        "open",
        "bin-007",
        "warning",
    )
    assert opened.detail is not None
    assert "20.0 %" in opened.detail
    (stored,) = rig.store.list_tickets(open_only=True, kind="classification_drift")
    assert stored.ticket_id == opened.ticket_id
    load(0.5)  # (0 + 0.5) / 20 = 2.5 %: the contaminated load left the window
    assert [t.status for t in rig.published] == ["open", "resolved"]
    assert rig.published[1].ticket_id == opened.ticket_id
    assert rig.store.list_tickets(open_only=True) == []
    # a tick re-evaluating the bins' own conditions leaves the facility's kind alone
    load(5.0)
    load(5.0)
    assert rig.published[-1].status == "open"
    rig.processor.tick()
    assert len(rig.store.list_tickets(open_only=True, kind="classification_drift")) == 1
    # the read model a dashboard lists bins to check with
    (row,) = contamination_rows(rig.store, settings().facilities, ["bin-007", "bin-404"])
    assert row == {
        "bin_id": "bin-007",
        "contamination_rate_pct": 50.0,
        "intakes": 2,
        "kg": 20.0,
        "above_threshold": True,
    }


def test_dispositions_stay_within_the_lot_and_reuse_can_be_restocked(rig: Rig) -> None:
    pickup = rig.bins.collect("bin-001", [("glass", 10_000), ("trash", 2000)])
    lot = rig.intake(
        [PickupPart(pickup)], [IntakeLine("glass", 10.0, 40), IntakeLine("trash", 2.0)]
    )

    def decide(
        category: str, disposition: str, kg: float, restock: bool = False
    ) -> Callable[[FacilityService], object]:
        request = DispositionRequest(lot, category, disposition, kg, count=4, restock=restock)
        return lambda s: s.record_disposition(request, "operator")

    outcome = rig.act(decide("glass", "reuse", 2.0, restock=True))
    assert isinstance(outcome, tuple)
    record, movement = outcome
    assert (record.value, record.disposition_id) == (0.8, 1)  # 2 kg x 0.40
    assert movement is not None
    assert (movement.kg, movement.count, movement.reason, movement.disposition_id) == (
        2.0,
        4,
        "restock",
        1,
    )
    rig.act(decide("glass", "recycle", 7.5))
    assert "only 0.500 kg of glass" in refused(rig, Conflict, None, decide("glass", "recycle", 0.6))
    refused(rig, InvalidAction, "category", decide("metal", "recycle", 0.1))
    refused(rig, InvalidAction, "restock", decide("glass", "recycle", 0.1, restock=True))
    refused(rig, InvalidAction, "kg", decide("glass", "recycle", 0.0))
    refused(
        rig,
        NotFound,
        "intake_id",
        lambda s: s.record_disposition(DispositionRequest("in-404", "glass", "reuse", 1.0), "op"),
    )
    decided = rig.act(decide("trash", "dispose", 2.0))
    assert isinstance(decided, tuple)
    trash = decided[0]
    assert trash.value == -0.24  # a gate fee
    (level,) = rig.store.stock("mrf-north")
    assert (level.category, level.kg, level.count) == ("glass", 2.0, 4)
    rig.act(lambda s: s.move_stock(MovementRequest("mrf-north", "glass", -1.5, "issue", -3), "op"))
    assert "cannot give out 1 kg" in refused(
        rig,
        Conflict,
        None,
        lambda s: s.move_stock(MovementRequest("mrf-north", "glass", -1.0, "issue"), "op"),
    )
    refused(
        rig,
        InvalidAction,
        "kg",
        lambda s: s.move_stock(MovementRequest("mrf-north", "glass", 0.0, "adjust"), "op"),
    )
    (level,) = rig.store.stock("mrf-north")
    assert (level.kg, level.count) == (0.5, 1)
    assert [m.reason for m in rig.store.list_movements(facility_id="mrf-north")] == [
        "issue",
        "restock",
    ]
