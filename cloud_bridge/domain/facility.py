"""What a receiving facility records, and the rules that need no database: the waste
hierarchy's order, a bin's contamination rate and the finding it makes, the distance a
load travelled.

An **intake** is one load received at a facility: the pickups it holds (a share of each,
so that several pickups may arrive in one load and one pickup may be split over
several), and a weigh-in per material category with the contamination found at
inspection. A **disposition** says what part of a lot's category becomes (reuse, repair,
recycle, recover, dispose); an **inventory movement** puts recovered goods into a
facility's stock or takes them out. All weights are in kg.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cloud_bridge.config.facilities import DISPOSITIONS
from cloud_bridge.domain.ticket_rules import Finding
from protocol import ManifestEntry

DRIFT_KIND = "classification_drift"
"""The ticket kind a contaminated bin opens: its camera or model needs a look."""

RESTOCKABLE: frozenset[str] = frozenset({"reuse", "repair"})
"""Dispositions whose goods may go back into stock."""


def hierarchy_rank(disposition: str) -> int:
    """The place of ``disposition`` in the EU waste hierarchy, 1 (reuse) to 5 (dispose).

    Directive 2008/98/EC, Article 4: prevention, preparing for re-use (here ``reuse``,
    and ``repair`` for what needs repair or refurbishment first), recycling, other
    recovery such as energy recovery (``recover``), disposal (``dispose``).
    """
    return DISPOSITIONS.index(disposition) + 1


def diverted(disposition: str) -> bool:
    """Whether material under ``disposition`` avoided disposal (counts for diversion)."""
    return disposition != "dispose"


@dataclass(frozen=True, slots=True)
class IntakePickup:
    """A pickup in a load: which share of it arrived, and what its manifest declared."""

    pickup_id: str
    bin_id: str
    region: str
    share: float
    """The fraction of the pickup in this load (1 unless it was split over loads)."""
    declared: dict[str, ManifestEntry]
    """The pickup's whole manifest (count and kg per category) as collected."""


@dataclass(frozen=True, slots=True)
class IntakeLine:
    """The weigh-in of one material category of a load."""

    category: str
    kg: float
    count: int | None = None
    contaminated_kg: float = 0.0
    """Of ``kg``, what inspection found was not this material (misclassified)."""


@dataclass(frozen=True, slots=True)
class Intake:
    """One load received at a facility."""

    intake_id: str
    facility_id: str
    received_at: datetime
    recorded_at: datetime
    actor: str
    pickups: tuple[IntakePickup, ...]
    lines: tuple[IntakeLine, ...]
    note: str | None = None
    distance_km: float | None = None
    """The distance driven for this load, from the depot to the facility."""
    distance_estimated: bool = False
    """Whether ``distance_km`` was estimated (no odometer figure was given)."""

    def line(self, category: str) -> IntakeLine | None:
        """The weigh-in of ``category``, if the load had any."""
        return next((line for line in self.lines if line.category == category), None)

    @property
    def received_kg(self) -> float:
        """Everything weighed in."""
        return sum(line.kg for line in self.lines)


@dataclass(frozen=True, slots=True)
class DispositionRecord:
    """What part of one category of a lot becomes, decided at review."""

    disposition_id: int
    intake_id: str
    facility_id: str
    category: str
    disposition: str
    kg: float
    decided_at: datetime
    actor: str
    count: int | None = None
    grade: str | None = None
    note: str | None = None
    value: float = 0.0
    """``kg`` times the settings' price of the material under this disposition."""


@dataclass(frozen=True, slots=True)
class InventoryMovement:
    """Recovered goods into (kg > 0) or out of (kg < 0) a facility's stock."""

    movement_id: int
    facility_id: str
    category: str
    kg: float
    reason: str
    at: datetime
    actor: str
    count: int | None = None
    intake_id: str | None = None
    disposition_id: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class StockLevel:
    """What a facility holds of one category."""

    facility_id: str
    category: str
    kg: float
    count: int


@dataclass(frozen=True, slots=True)
class BinIntakeShare:
    """What one intake received of one bin's material (see
    :func:`cloud_bridge.domain.reconciliation.attribute`)."""

    intake_id: str
    received_at: datetime
    kg: float
    contaminated_kg: float
    per_category: dict[str, tuple[float, float]] = field(default_factory=dict)
    """category: (kg, contaminated kg)."""


def contamination_rate(shares: Sequence[BinIntakeShare]) -> float | None:
    """Contaminated kg over received kg, in %, over ``shares``; None when nothing weighed."""
    kg = sum(share.kg for share in shares)
    if kg <= 0:
        return None
    return 100.0 * sum(share.contaminated_kg for share in shares) / kg


def drift_finding(
    newest_first: Sequence[BinIntakeShare], threshold_pct: float, window: int
) -> Finding | None:
    """The ``classification_drift`` finding of a bin, from its intakes newest first.

    It stands when the bin has at least ``window`` intakes and its contamination rate
    (kg-weighted) over the newest ``window`` of them is above ``threshold_pct``; as
    later clean intakes push the contaminated ones out of the window, it clears.
    """
    recent = list(newest_first[:window])
    if len(recent) < window:
        return None
    rate = contamination_rate(recent)
    if rate is None or rate <= threshold_pct:
        return None
    worst: dict[str, float] = {}
    for share in recent:
        for category, (_, bad) in share.per_category.items():
            worst[category] = worst.get(category, 0.0) + bad
    top = sorted(((kg, c) for c, kg in worst.items() if kg > 0), reverse=True)[:3]
    where = ", ".join(f"{category} {kg:.1f} kg" for kg, category in top)
    return Finding(
        DRIFT_KIND,
        "warning",
        ("contamination",),
        f"{rate:.1f} % of the material from this bin in its last {window} intakes was not "
        f"what it was classified as (threshold {threshold_pct:g} %; {where}): check its "
        "camera and classifier model",
    )


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lat, lon) points in km."""
    lat1, lon1, lat2, lon2 = (math.radians(x) for x in (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def haul_km(
    start: tuple[float, float], stops: Sequence[tuple[float, float]], end: tuple[float, float]
) -> float:
    """An estimate of the km a load was driven: from ``start`` (the depot) to the
    nearest stop not yet visited, and so on, then to ``end`` (the facility).

    Great-circle distances and a nearest-neighbour order: a crew's real route is
    longer on roads and shorter where it was optimised; the report says which loads'
    km were estimated.
    """
    here, left, total = start, list(stops), 0.0
    while left:
        nearest = min(left, key=lambda point: haversine_km(here, point))
        total += haversine_km(here, nearest)
        left.remove(nearest)
        here = nearest
    return total + haversine_km(here, end)
