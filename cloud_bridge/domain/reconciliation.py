"""What arrived against what the bins said: a load's weigh-in reconciled with the
manifests of the pickups it holds, and the load's material attributed back to them.

**Declared** per category is the sum over the load's pickups of their share times their
manifest (a pickup split over two loads declares 60 % of its manifest to the first
if 0.6 of it came in that load). **Received minus declared** is reported in kg and in %
of the declared kg; a category on one side only is reconciled against 0 (all of it
missing, or all of it undeclared). A difference is **flagged** when it is more than
``tolerance_kg`` and, where something was declared, more than ``tolerance_pct`` of it.

**Attribution** splits each category's received and contaminated kg over the pickups
in proportion to what each declared of that category (its share of it); a category no
pickup declared is split by the pickups' declared totals, and a load that declared
nothing at all by their shares. Reports by region and traces from a bin rest on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cloud_bridge.domain.facility import BinIntakeShare, Intake, IntakeLine, IntakePickup

KG_DIGITS = 3
PCT_DIGITS = 2


@dataclass(frozen=True, slots=True)
class Declared:
    """What the manifests declared of one category for one load."""

    kg: float
    count: float


@dataclass(frozen=True, slots=True)
class ReconciledLine:
    """One category of a load: declared, received, the difference and whether it is flagged."""

    category: str
    declared_kg: float
    received_kg: float
    diff_kg: float
    diff_pct: float | None
    """Of the declared kg; None when nothing was declared."""
    declared_count: float
    received_count: int | None
    contaminated_kg: float
    contamination_pct: float | None
    """Of the received kg; None when nothing was received."""
    flagged: bool


def declared(pickups: Sequence[IntakePickup]) -> dict[str, Declared]:
    """Per category, the manifests' kg and count times each pickup's share of the load."""
    kg: dict[str, float] = {}
    count: dict[str, float] = {}
    for pickup in pickups:
        for category, entry in pickup.declared.items():
            kg[category] = kg.get(category, 0.0) + pickup.share * entry.kg
            count[category] = count.get(category, 0.0) + pickup.share * entry.count
    return {category: Declared(kg[category], count[category]) for category in kg}


def reconcile(
    pickups: Sequence[IntakePickup],
    lines: Sequence[IntakeLine],
    *,
    tolerance_pct: float,
    tolerance_kg: float,
) -> list[ReconciledLine]:
    """Every category on either side, sorted by name (see the module's rules)."""
    expected = declared(pickups)
    received = {line.category: line for line in lines}
    result = []
    for category in sorted(set(expected) | set(received)):
        want = expected.get(category, Declared(0.0, 0.0))
        line = received.get(category)
        got = 0.0 if line is None else line.kg
        diff = got - want.kg
        pct = None if want.kg <= 0 else 100.0 * diff / want.kg
        beyond_kg = abs(diff) > tolerance_kg + 1e-9
        flagged = beyond_kg and (pct is None or abs(pct) > tolerance_pct + 1e-9)
        bad = 0.0 if line is None else line.contaminated_kg
        result.append(
            ReconciledLine(
                category=category,
                declared_kg=round(want.kg, KG_DIGITS),
                received_kg=round(got, KG_DIGITS),
                diff_kg=round(diff, KG_DIGITS),
                diff_pct=None if pct is None else round(pct, PCT_DIGITS),
                declared_count=round(want.count, 2),
                received_count=None if line is None else line.count,
                contaminated_kg=round(bad, KG_DIGITS),
                contamination_pct=None if got <= 0 else round(100.0 * bad / got, PCT_DIGITS),
                flagged=flagged,
            )
        )
    return result


def _weights(pickups: Sequence[IntakePickup], category: str) -> list[float]:
    """How a category's kg is split over the pickups (they sum to 1)."""

    def of_category(p: IntakePickup) -> float:
        entry = p.declared.get(category)
        return p.share * (0.0 if entry is None else entry.kg)

    def of_total(p: IntakePickup) -> float:
        return p.share * sum(entry.kg for entry in p.declared.values())

    def of_share(p: IntakePickup) -> float:
        return p.share

    for weigh in (of_category, of_total, of_share):
        raw = [weigh(pickup) for pickup in pickups]
        total = sum(raw)
        if total > 0:
            return [value / total for value in raw]
    return [1.0 / len(pickups)] * len(pickups) if pickups else []


def attribute(intake: Intake) -> dict[str, dict[str, tuple[float, float]]]:
    """Per pickup id, per category: (received kg, contaminated kg) that came from it."""
    shares: dict[str, dict[str, tuple[float, float]]] = {
        pickup.pickup_id: {} for pickup in intake.pickups
    }
    for line in intake.lines:
        for pickup, weight in zip(
            intake.pickups, _weights(intake.pickups, line.category), strict=True
        ):
            kg, bad = shares[pickup.pickup_id].get(line.category, (0.0, 0.0))
            shares[pickup.pickup_id][line.category] = (
                kg + weight * line.kg,
                bad + weight * line.contaminated_kg,
            )
    return shares


def bin_share(intake: Intake, bin_id: str) -> BinIntakeShare:
    """What ``intake`` received of ``bin_id``'s material (its pickups in the load)."""
    per_pickup = attribute(intake)
    per_category: dict[str, tuple[float, float]] = {}
    for pickup in intake.pickups:
        if pickup.bin_id != bin_id:
            continue
        for category, (kg, bad) in per_pickup[pickup.pickup_id].items():
            old_kg, old_bad = per_category.get(category, (0.0, 0.0))
            per_category[category] = (old_kg + kg, old_bad + bad)
    return BinIntakeShare(
        intake_id=intake.intake_id,
        received_at=intake.received_at,
        kg=sum(kg for kg, _ in per_category.values()),
        contaminated_kg=sum(bad for _, bad in per_category.values()),
        per_category=per_category,
    )


def region_fractions(intake: Intake, category: str) -> dict[str, float]:
    """How ``category`` of ``intake`` splits over the regions its pickups came from."""
    fractions: dict[str, float] = {}
    for pickup, weight in zip(intake.pickups, _weights(intake.pickups, category), strict=True):
        fractions[pickup.region] = fractions.get(pickup.region, 0.0) + weight
    return fractions
