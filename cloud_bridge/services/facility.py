"""What receiving facilities record, checked and stored on the writer thread: intakes of
collected pickups, dispositions of their lots, and stock movements of recovered goods;
and the ``classification_drift`` ticket that contaminated intakes open for a bin.

Every action runs in one transaction through the bridge's single writer (the API hands
it over as :meth:`cloud_bridge.engine.bridge.Bridge.facility`, the simulator's facility
calls it in-process), so a refused action changes nothing: a bad value is an
:class:`~cloud_bridge.errors.InvalidAction` naming its field (422), an unknown facility,
pickup or lot a :class:`~cloud_bridge.errors.NotFound` (404), a pickup not collected or
received already, or more kg than a lot has left, a :class:`~cloud_bridge.errors.Conflict`
(409), a facility the caller's token does not act for :class:`NotPermitted` (403).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cloud_bridge.clock import Clock
from cloud_bridge.config.facilities import FacilitySite
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.facility import (
    DRIFT_KIND,
    RESTOCKABLE,
    DispositionRecord,
    Intake,
    IntakeLine,
    IntakePickup,
    InventoryMovement,
    drift_finding,
    haul_km,
)
from cloud_bridge.domain.fleet import Fleet
from cloud_bridge.domain.reconciliation import bin_share
from cloud_bridge.errors import ActionError, Conflict, InvalidAction, NotFound
from cloud_bridge.services.tickets import TicketService
from cloud_bridge.store.protocols import Store
from protocol import format_ts

logger = logging.getLogger(__name__)

SHARE_EPSILON = 1e-6
"""Shares of a pickup may add up to 1 within this (0.3 + 0.7 in floating point)."""
FUTURE_SLACK = timedelta(minutes=5)
"""A load may not be received later than now plus this (clocks differ a little)."""


class NotPermitted(ActionError, PermissionError):
    """The caller's token does not act for the facility the action concerns."""

    status = 403


@dataclass(frozen=True, slots=True)
class PickupPart:
    """A pickup named in an intake, and the share of it in the load (None: what is left)."""

    pickup_id: str
    share: float | None = None


@dataclass(frozen=True, slots=True)
class IntakeRequest:
    """A load as the facility reports it."""

    facility_id: str
    pickups: Sequence[PickupPart]
    lines: Sequence[IntakeLine]
    received_at: datetime | None = None
    distance_km: float | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class DispositionRequest:
    """What part of one category of a lot becomes."""

    intake_id: str
    category: str
    disposition: str
    kg: float
    count: int | None = None
    grade: str | None = None
    note: str | None = None
    restock: bool = False


@dataclass(frozen=True, slots=True)
class MovementRequest:
    """Recovered goods into (kg > 0) or out of (kg < 0) a facility's stock."""

    facility_id: str
    category: str
    kg: float
    reason: str
    count: int | None = None
    note: str | None = None


def _finite(value: float, field: str) -> None:
    """The API's models refuse these already; an in-process caller is checked too."""
    if not math.isfinite(value):
        raise InvalidAction(f"{field} must be a finite number, not {value}", field=field)


class FacilityService:
    """Records intakes, dispositions and stock movements; keeps drift tickets in step."""

    def __init__(
        self,
        settings: BridgeSettings,
        store: Store,
        clock: Clock,
        fleet: Fleet,
        tickets: TicketService,
    ) -> None:
        self._settings = settings
        self._facilities = settings.facilities
        self._store = store
        self._clock = clock
        self._fleet = fleet
        self._tickets = tickets

    def site(self, facility_id: str, allowed: frozenset[str] | None = None) -> FacilitySite:
        """The facility, if it exists and the caller (``allowed``: its token's) acts for it."""
        site = self._facilities.site(facility_id)
        if site is None:
            raise NotFound(f"no facility {facility_id!r}", field="facility_id")
        if allowed is not None and facility_id not in allowed:
            raise NotPermitted(f"this token does not act for facility {facility_id!r}")
        return site

    # -- intakes --------------------------------------------------------------------------

    def record_intake(
        self, request: IntakeRequest, actor: str, allowed: frozenset[str] | None = None
    ) -> Intake:
        """Receive a load: check it, store it, and re-judge the drift of its bins."""
        site = self.site(request.facility_id, allowed)
        now = self._clock()
        received_at = request.received_at or now
        if received_at > now + FUTURE_SLACK:
            raise InvalidAction(
                f"received_at {format_ts(received_at)} is in the future", field="received_at"
            )
        lines = self._lines(site, request.lines)
        if request.distance_km is not None:
            _finite(request.distance_km, "distance_km")
            if request.distance_km < 0:
                raise InvalidAction("distance_km must not be negative", field="distance_km")
        pickups = self._pickups(site, request.pickups, received_at)
        distance, estimated = request.distance_km, False
        if distance is None:
            distance, estimated = self._estimate_km(site, [p.pickup_id for p in pickups]), True
        # loads already holding the first pickup: a split recorded twice at one instant
        # (a simulation's clock) still gets two ids
        count = len(self._store.list_intakes(pickup_id=pickups[0].pickup_id))
        seed = f"{site.id}:{format_ts(received_at)}:{format_ts(now)}:{count}:" + ",".join(
            p.pickup_id for p in pickups
        )
        intake = Intake(
            intake_id="in-" + hashlib.sha256(seed.encode()).hexdigest()[:20],
            facility_id=site.id,
            received_at=received_at,
            recorded_at=now,
            actor=actor,
            pickups=tuple(pickups),
            lines=tuple(lines),
            note=request.note,
            distance_km=None if distance is None else round(distance, 3),
            distance_estimated=estimated and distance is not None,
        )
        self._store.add_intake(intake)
        logger.info(
            "intake %s at %s by %s: %d pickups, %.1f kg",
            intake.intake_id,
            site.id,
            actor,
            len(pickups),
            intake.received_kg,
        )
        self.judge_drift(sorted({p.bin_id for p in pickups}), now)
        return intake

    def _lines(self, site: FacilitySite, lines: Sequence[IntakeLine]) -> list[IntakeLine]:
        if not lines:
            raise InvalidAction("a load needs at least one weighed category", field="lines")
        seen: set[str] = set()
        for line in lines:
            _finite(line.kg, "kg")
            _finite(line.contaminated_kg, "contaminated_kg")
            if line.category in seen:
                raise InvalidAction(f"{line.category} is weighed twice", field="lines")
            seen.add(line.category)
            if line.category not in site.materials:
                raise InvalidAction(
                    f"facility {site.id} does not accept {line.category} "
                    f"(it accepts {', '.join(site.materials)})",
                    field="lines",
                )
            if line.kg < 0 or line.contaminated_kg < 0:
                raise InvalidAction("kg must not be negative", field="kg")
            if line.contaminated_kg > line.kg:
                raise InvalidAction(
                    f"{line.category}: contaminated_kg {line.contaminated_kg:g} is more than "
                    f"the {line.kg:g} kg weighed",
                    field="contaminated_kg",
                )
        return sorted(lines, key=lambda line: line.category)

    def _pickups(
        self, site: FacilitySite, parts: Sequence[PickupPart], received_at: datetime
    ) -> list[IntakePickup]:
        if not parts:
            raise InvalidAction("a load holds at least one pickup", field="pickups")
        ids = [part.pickup_id for part in parts]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise InvalidAction(f"pickup {repeated[0]} is named twice", field="pickups")
        received = self._store.received_shares(ids)
        result = []
        for part in parts:
            pickup = self._store.get_pickup(part.pickup_id)
            if pickup is None:
                raise NotFound(f"no pickup {part.pickup_id!r}", field="pickups")
            if pickup.status != "collected" or pickup.closed_at is None:
                raise Conflict(
                    f"pickup {pickup.pickup_id} is {pickup.status}, not collected: "
                    "only collected pickups arrive at a facility"
                )
            if not site.serves(pickup.region):
                raise InvalidAction(
                    f"pickup {pickup.pickup_id} is from region {pickup.region}, which "
                    f"facility {site.id} does not serve",
                    field="pickups",
                )
            if received_at < pickup.closed_at:
                raise InvalidAction(
                    f"received_at {format_ts(received_at)} is before pickup "
                    f"{pickup.pickup_id} was collected ({format_ts(pickup.closed_at)})",
                    field="received_at",
                )
            done = received.get(pickup.pickup_id, 0.0)
            left = 1.0 - done
            if left <= SHARE_EPSILON:
                raise Conflict(f"pickup {pickup.pickup_id} was received already")
            share = left if part.share is None else part.share
            _finite(share, "share")
            if not 0 < share <= 1:
                raise InvalidAction("share must be in (0, 1]", field="share")
            if share > left + SHARE_EPSILON:
                raise Conflict(
                    f"pickup {pickup.pickup_id}: only {left:.3g} of it is left to receive "
                    f"({done:.3g} was received already), not {share:.3g}"
                )
            result.append(
                IntakePickup(
                    pickup_id=pickup.pickup_id,
                    bin_id=pickup.bin_id,
                    region=pickup.region,
                    share=min(share, left),
                    declared=dict(pickup.manifest),
                )
            )
        return result

    def _estimate_km(self, site: FacilitySite, pickup_ids: list[str]) -> float | None:
        """From the first pickup's regional depot (or the facility) through the bins."""
        stops: list[tuple[float, float]] = []
        region: str | None = None
        for pickup_id in pickup_ids:
            pickup = self._store.get_pickup(pickup_id)
            if pickup is None:
                continue
            region = region or pickup.region
            where = pickup.location
            if where is not None and where.lat is not None and where.lon is not None:
                stops.append((where.lat, where.lon))
        if not stops:
            return None
        end = (site.location.lat, site.location.lon)
        route = self._settings.routing.regions.get(region or "")
        start = end if route is None else (route.depot.lat, route.depot.lon)
        return haul_km(start, stops, end)

    def judge_drift(self, bin_ids: Sequence[str], now: datetime | None = None) -> None:
        """Open, update or resolve ``classification_drift`` of each bin from its newest
        intakes (see :func:`cloud_bridge.domain.facility.drift_finding`)."""
        now = self._clock() if now is None else now
        window = self._facilities.contamination_intakes
        for bin_id in bin_ids:
            record = self._fleet.get(bin_id)
            if record is None:
                continue
            history = [
                bin_share(intake, bin_id)
                for intake in self._store.list_intakes(
                    bin_id=bin_id, newest_first=True, limit=window
                )
            ]
            finding = drift_finding(history, self._facilities.contamination_threshold_pct, window)
            self._tickets.reconcile(record, DRIFT_KIND, finding, now)

    # -- dispositions and stock -------------------------------------------------------------

    def record_disposition(
        self, request: DispositionRequest, actor: str, allowed: frozenset[str] | None = None
    ) -> tuple[DispositionRecord, InventoryMovement | None]:
        """Decide what part of a lot's category becomes; restock reused goods."""
        intake = self._store.get_intake(request.intake_id)
        if intake is None:
            raise NotFound(f"no intake {request.intake_id!r}", field="intake_id")
        self.site(intake.facility_id, allowed)
        _finite(request.kg, "kg")
        if request.kg <= 0:
            raise InvalidAction("kg must be more than 0", field="kg")
        line = intake.line(request.category)
        if line is None:
            raise InvalidAction(
                f"intake {intake.intake_id} received no {request.category}", field="category"
            )
        if request.restock and request.disposition not in RESTOCKABLE:
            raise InvalidAction(
                f"only goods for {' or '.join(sorted(RESTOCKABLE))} go back into stock, "
                f"not {request.disposition}",
                field="restock",
            )
        decided = sum(
            d.kg
            for d in self._store.list_dispositions(intake_ids=[intake.intake_id])
            if d.category == request.category
        )
        left = line.kg - decided
        if request.kg > left + 1e-6:
            raise Conflict(
                f"only {max(left, 0.0):.3f} kg of {request.category} of intake "
                f"{intake.intake_id} is left undecided, not {request.kg:g}"
            )
        now = self._clock()
        price = self._facilities.price(request.category, request.disposition)
        record = DispositionRecord(
            disposition_id=0,
            intake_id=intake.intake_id,
            facility_id=intake.facility_id,
            category=request.category,
            disposition=request.disposition,
            kg=request.kg,
            decided_at=now,
            actor=actor,
            count=request.count,
            grade=request.grade,
            note=request.note,
            value=round(request.kg * price, 2),
        )
        new_id = self._store.add_disposition(record)
        record = replace(record, disposition_id=new_id)
        movement = None
        if request.restock:
            movement = self._move(
                MovementRequest(
                    facility_id=intake.facility_id,
                    category=request.category,
                    kg=request.kg,
                    reason="restock",
                    count=request.count,
                    note=request.note,
                ),
                actor,
                intake_id=intake.intake_id,
                disposition_id=new_id,
            )
        return record, movement

    def move_stock(
        self, request: MovementRequest, actor: str, allowed: frozenset[str] | None = None
    ) -> InventoryMovement:
        """Put recovered goods into stock or take them out (never below nothing)."""
        self.site(request.facility_id, allowed)
        _finite(request.kg, "kg")
        if request.kg == 0:
            raise InvalidAction("kg must not be 0 (positive: in, negative: out)", field="kg")
        if request.kg < 0 or (request.count or 0) < 0:
            held = next(
                (
                    level
                    for level in self._store.stock(request.facility_id)
                    if level.category == request.category
                ),
                None,
            )
            kg = 0.0 if held is None else held.kg
            count = 0 if held is None else held.count
            if kg + request.kg < -1e-6 or count + (request.count or 0) < 0:
                raise Conflict(
                    f"facility {request.facility_id} holds {kg:.3f} kg ({count} items) of "
                    f"{request.category}: it cannot give out {-request.kg:g} kg"
                )
        return self._move(request, actor)

    def _move(
        self,
        request: MovementRequest,
        actor: str,
        *,
        intake_id: str | None = None,
        disposition_id: int | None = None,
    ) -> InventoryMovement:
        movement = InventoryMovement(
            movement_id=0,
            facility_id=request.facility_id,
            category=request.category,
            kg=request.kg,
            reason=request.reason,
            at=self._clock(),
            actor=actor,
            count=request.count,
            intake_id=intake_id,
            disposition_id=disposition_id,
            note=request.note,
        )
        new_id = self._store.add_movement(movement)
        return replace(movement, movement_id=new_id)
