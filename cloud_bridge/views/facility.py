"""Read models of the receiving facilities, shared by the API, ``bin-bridge`` and (later)
the dashboard's pages: facilities, intakes with their reconciliation, dispositions,
stock, and traces both ways (from a deposit, bin or pickup to where its material went;
from a lot back to the bins that fed it).

Each function returns JSON-able rows (times as RFC 3339 UTC strings, kg rounded to
grams); :mod:`cloud_bridge.api.facility_schemas` describes them key for key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from cloud_bridge.config.facilities import DISPOSITIONS, FacilitySettings, FacilitySite
from cloud_bridge.domain.facility import (
    DispositionRecord,
    Intake,
    InventoryMovement,
    StockLevel,
    contamination_rate,
)
from cloud_bridge.domain.reconciliation import attribute, bin_share, reconcile
from cloud_bridge.domain.records import PickupRecord
from cloud_bridge.store.protocols import Store
from cloud_bridge.views.rows import deposit_row
from protocol import format_ts


def _kg(value: float) -> float:
    return round(value, 3)


def _when(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def facility_row(site: FacilitySite) -> dict[str, Any]:
    """One facility as the settings describe it."""
    return {
        "facility_id": site.id,
        "name": site.name,
        "location": {"lat": site.location.lat, "lon": site.location.lon},
        "address": site.address,
        "regions": list(site.regions),
        "materials": list(site.materials),
    }


def disposition_row(record: DispositionRecord) -> dict[str, Any]:
    """One decision on part of a lot."""
    return {
        "disposition_id": record.disposition_id,
        "intake_id": record.intake_id,
        "facility_id": record.facility_id,
        "category": record.category,
        "disposition": record.disposition,
        "kg": _kg(record.kg),
        "count": record.count,
        "grade": record.grade,
        "note": record.note,
        "value": record.value,
        "decided_at": format_ts(record.decided_at),
        "actor": record.actor,
    }


def movement_row(movement: InventoryMovement) -> dict[str, Any]:
    """One stock movement."""
    return {
        "movement_id": movement.movement_id,
        "facility_id": movement.facility_id,
        "category": movement.category,
        "kg": _kg(movement.kg),
        "count": movement.count,
        "reason": movement.reason,
        "intake_id": movement.intake_id,
        "disposition_id": movement.disposition_id,
        "at": format_ts(movement.at),
        "actor": movement.actor,
        "note": movement.note,
    }


def stock_row(level: StockLevel) -> dict[str, Any]:
    """What a facility holds of one category."""
    return {
        "facility_id": level.facility_id,
        "category": level.category,
        "kg": _kg(level.kg),
        "count": level.count,
    }


def intake_row(
    intake: Intake, dispositions: Sequence[DispositionRecord], settings: FacilitySettings
) -> dict[str, Any]:
    """A load with its reconciliation against the manifests and its decisions so far."""
    mine = [d for d in dispositions if d.intake_id == intake.intake_id]
    reconciled = reconcile(
        intake.pickups,
        intake.lines,
        tolerance_pct=settings.tolerance_pct,
        tolerance_kg=settings.tolerance_kg,
    )
    lines = []
    for line in reconciled:
        decided = sum(d.kg for d in mine if d.category == line.category)
        lines.append(
            {
                "category": line.category,
                "declared_kg": line.declared_kg,
                "received_kg": line.received_kg,
                "diff_kg": line.diff_kg,
                "diff_pct": line.diff_pct,
                "declared_count": line.declared_count,
                "received_count": line.received_count,
                "contaminated_kg": line.contaminated_kg,
                "contamination_pct": line.contamination_pct,
                "flagged": line.flagged,
                "decided_kg": _kg(decided),
                "pending_kg": _kg(max(0.0, line.received_kg - decided)),
            }
        )
    return {
        "intake_id": intake.intake_id,
        "facility_id": intake.facility_id,
        "received_at": format_ts(intake.received_at),
        "recorded_at": format_ts(intake.recorded_at),
        "actor": intake.actor,
        "note": intake.note,
        "distance_km": intake.distance_km,
        "distance_estimated": intake.distance_estimated,
        "pickups": [
            {"pickup_id": p.pickup_id, "bin_id": p.bin_id, "region": p.region, "share": p.share}
            for p in intake.pickups
        ],
        "declared_kg": _kg(sum(line.declared_kg for line in reconciled)),
        "received_kg": _kg(intake.received_kg),
        "flagged": any(line.flagged for line in reconciled),
        "lines": lines,
        "dispositions": [disposition_row(d) for d in mine],
    }


def intake_rows(
    store: Store, intakes: Sequence[Intake], settings: FacilitySettings
) -> list[dict[str, Any]]:
    """:func:`intake_row` of each load, reading their decisions in one go."""
    dispositions = store.list_dispositions(intake_ids=[i.intake_id for i in intakes])
    return [intake_row(intake, dispositions, settings) for intake in intakes]


def inventory(store: Store, facility_id: str, limit: int) -> dict[str, Any]:
    """A facility's stock and its newest movements."""
    return {
        "facility_id": facility_id,
        "stock": [stock_row(level) for level in store.stock(facility_id)],
        "movements": [
            movement_row(m) for m in store.list_movements(facility_id=facility_id, limit=limit)
        ],
    }


# -- traces ---------------------------------------------------------------------------------


def _became(
    intake: Intake, category: str, fraction: float, dispositions: Iterable[DispositionRecord]
) -> dict[str, float]:
    """kg per disposition of ``fraction`` of a lot's category (pending: not decided yet)."""
    line = intake.line(category)
    decided = dict.fromkeys(DISPOSITIONS, 0.0)
    for d in dispositions:
        if d.intake_id == intake.intake_id and d.category == category:
            decided[d.disposition] += d.kg
    total = 0.0 if line is None else line.kg
    result = {k: _kg(v * fraction) for k, v in decided.items()}
    result["pending"] = _kg(max(0.0, total - sum(decided.values())) * fraction)
    return result


def _pickup_part(
    intake: Intake, pickup_id: str, dispositions: Sequence[DispositionRecord]
) -> dict[str, Any]:
    """What one load received of one pickup, per category, and what it became."""
    share = next(p.share for p in intake.pickups if p.pickup_id == pickup_id)
    materials = []
    for category, (kg, bad) in sorted(attribute(intake)[pickup_id].items()):
        line = intake.line(category)
        fraction = kg / line.kg if line is not None and line.kg > 0 else 0.0
        materials.append(
            {
                "category": category,
                "kg": _kg(kg),
                "contaminated_kg": _kg(bad),
                "became": _became(intake, category, fraction, dispositions),
            }
        )
    return {
        "intake_id": intake.intake_id,
        "facility_id": intake.facility_id,
        "received_at": format_ts(intake.received_at),
        "share": share,
        "materials": materials,
    }


def pickup_trace(store: Store, pickup: PickupRecord) -> dict[str, Any]:
    """Where a pickup's material went: the loads that received it and what it became."""
    intakes = store.list_intakes(pickup_id=pickup.pickup_id)
    dispositions = store.list_dispositions(intake_ids=[i.intake_id for i in intakes])
    received = store.received_shares([pickup.pickup_id]).get(pickup.pickup_id, 0.0)
    return {
        "pickup_id": pickup.pickup_id,
        "bin_id": pickup.bin_id,
        "region": pickup.region,
        "status": pickup.status,
        "collected_at": _when(pickup.closed_at) if pickup.status == "collected" else None,
        "manifest": {k: v.model_dump(mode="json") for k, v in sorted(pickup.manifest.items())},
        "received_share": round(received, 6),
        "intakes": [_pickup_part(i, pickup.pickup_id, dispositions) for i in intakes],
    }


def bin_trace(
    store: Store,
    bin_id: str,
    settings: FacilitySettings,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Where a bin's collected material went (pickups collected in the range), and its
    contamination rate over its most recent intakes."""
    window = settings.contamination_intakes
    recent = [
        bin_share(i, bin_id)
        for i in store.list_intakes(bin_id=bin_id, newest_first=True, limit=window)
    ]
    rate = contamination_rate(recent)
    pickups = store.collected_pickups(bin_id=bin_id, since=since, until=until)
    return {
        "bin_id": bin_id,
        "contamination_rate_pct": None if rate is None else round(rate, 2),
        "contamination_intakes": len(recent),
        "pickups": [pickup_trace(store, pickup) for pickup in pickups],
    }


def contamination_rows(
    store: Store, settings: FacilitySettings, bin_ids: Iterable[str]
) -> list[dict[str, Any]]:
    """Each bin's contamination rate over its newest intakes, worst first, and whether it
    is above the threshold (what a dashboard's "bins to check" list shows)."""
    window = settings.contamination_intakes
    rows = []
    for bin_id in bin_ids:
        recent = [
            bin_share(i, bin_id)
            for i in store.list_intakes(bin_id=bin_id, newest_first=True, limit=window)
        ]
        rate = contamination_rate(recent)
        if rate is None:
            continue
        rows.append(
            {
                "bin_id": bin_id,
                "contamination_rate_pct": round(rate, 2),
                "intakes": len(recent),
                "kg": _kg(sum(share.kg for share in recent)),
                "above_threshold": len(recent) >= window
                and rate > settings.contamination_threshold_pct,
            }
        )
    return sorted(rows, key=lambda row: (-float(row["contamination_rate_pct"]), row["bin_id"]))


def deposit_trace(store: Store, bin_id: str, seq: int) -> dict[str, Any] | None:
    """Where one deposit went: the pickup that took it, and that pickup's trace (None
    when no such deposit is stored)."""
    deposit = store.get_deposit(bin_id, seq)
    if deposit is None:
        return None
    pickup_id = store.pickup_for_deposit(bin_id, seq) if deposit.accepted else None
    pickup = None if pickup_id is None else store.get_pickup(pickup_id)
    return {
        "deposit": deposit_row(deposit),
        "pickup": None if pickup is None else pickup_trace(store, pickup),
    }


def lot_trace(store: Store, intake: Intake) -> dict[str, Any]:
    """The reverse: which bins (through which pickups) fed a lot, with their kg."""
    per_pickup = attribute(intake)
    bins: dict[str, dict[str, Any]] = {}
    for pickup in intake.pickups:
        entry = bins.setdefault(
            pickup.bin_id,
            {"bin_id": pickup.bin_id, "region": pickup.region, "kg": 0.0, "pickups": []},
        )
        materials = per_pickup[pickup.pickup_id]
        kg = sum(value for value, _ in materials.values())
        entry["kg"] = _kg(entry["kg"] + kg)
        entry["pickups"].append(
            {
                "pickup_id": pickup.pickup_id,
                "share": pickup.share,
                "kg": _kg(kg),
                "materials": {
                    category: {"kg": _kg(value), "contaminated_kg": _kg(bad)}
                    for category, (value, bad) in sorted(materials.items())
                },
            }
        )
    return {
        "intake_id": intake.intake_id,
        "facility_id": intake.facility_id,
        "received_at": format_ts(intake.received_at),
        "received_kg": _kg(intake.received_kg),
        "bins": sorted(bins.values(), key=lambda b: str(b["bin_id"])),
    }
