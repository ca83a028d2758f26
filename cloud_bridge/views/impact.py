"""The impact report: what the programme achieved in a period, as JSON rows and CSV
(the one-page HTML is :mod:`cloud_bridge.views.report_html`).

It gathers from the store, per period (and optionally region, facility, material):

- **collections** and **kg collected**: the pickups collected in the period (by their
  ``closed_at``) and what their manifests declared; with a facility, only the pickups
  that facility received; with a material, only those that declared it;
- **kg received**, **contaminated** and **per disposition**: the loads received in the
  period (``received_at``) and the decisions on them, a load's category split over the
  regions of its pickups as :func:`cloud_bridge.domain.reconciliation.region_fractions`
  says (so a region's report holds its own bins' share of a shared load);
- **km driven**: each load's distance (measured, or estimated at intake), split over
  regions by the kg each brought;
- **CO2e**: from the emission factor set (the shipped one, or the settings' file), which
  the report names with its version.
"""

from __future__ import annotations

import csv
import io
import tomllib
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from cloud_bridge.config.facilities import DISPOSITIONS, FacilitySettings
from cloud_bridge.domain.facility import Intake
from cloud_bridge.domain.impact import FactorSet, Figures, Impact, parse_factor_set, summarize
from cloud_bridge.domain.reconciliation import region_fractions
from cloud_bridge.errors import SettingsError
from cloud_bridge.store.protocols import Store
from protocol import format_ts

SHIPPED_FACTORS = "data/emission_factors.toml"
"""The factor file shipped with the bridge, inside ``cloud_bridge/domain``."""


def load_factor_set(path: Path | None = None) -> FactorSet:
    """The emission factors of ``path``, or the shipped set; SettingsError names the problem."""
    try:
        if path is None:
            text = resources.files("cloud_bridge.domain").joinpath(SHIPPED_FACTORS).read_text()
            where = "emission_factors.toml (shipped)"
        else:
            text = path.read_text(encoding="utf-8")
            where = str(path)
    except OSError as err:
        raise SettingsError(
            str(path), [f"facilities.emission_factors: {err.strerror or err}"]
        ) from None
    try:
        return parse_factor_set(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValueError) as err:
        raise SettingsError(where, [str(err)]) from None


def _region_weight(intake: Intake, region: str | None) -> float:
    """The fraction of a load's kg that came from ``region`` (1 without a region)."""
    if region is None:
        return 1.0
    total = intake.received_kg
    if total <= 0:
        return sum(p.share for p in intake.pickups if p.region == region) / max(
            1e-9, sum(p.share for p in intake.pickups)
        )
    return (
        sum(
            line.kg * region_fractions(intake, line.category).get(region, 0.0)
            for line in intake.lines
        )
        / total
    )


def impact(
    store: Store,
    settings: FacilitySettings,
    factors: FactorSet,
    *,
    since: datetime,
    until: datetime,
    region: str | None = None,
    facility_id: str | None = None,
    material: str | None = None,
) -> Impact:
    """The sums of the period (see the module's rules)."""
    intakes = store.list_intakes(facility_id=facility_id, since=since, until=until)
    dispositions = store.list_dispositions(intake_ids=[i.intake_id for i in intakes])
    by_lot = {i.intake_id: i for i in intakes}

    def weight(intake: Intake, category: str) -> float:
        if region is None:
            return 1.0
        return region_fractions(intake, category).get(region, 0.0)

    received = [
        (line.category, line.kg * w, line.contaminated_kg * w)
        for intake in intakes
        for line in intake.lines
        if (material is None or line.category == material)
        and (w := weight(intake, line.category)) > 0
    ]
    outcomes = [
        (d.category, d.disposition, d.kg * w, d.value * w)
        for d in dispositions
        if (material is None or d.category == material)
        and (w := weight(by_lot[d.intake_id], d.category)) > 0
    ]
    pickups = store.collected_pickups(since=since, until=until, region=region)
    if facility_id is not None:
        there = {
            p.pickup_id for i in store.list_intakes(facility_id=facility_id) for p in i.pickups
        }
        pickups = [p for p in pickups if p.pickup_id in there]
    collected = [
        {
            category: entry.kg
            for category, entry in pickup.manifest.items()
            if material is None or category == material
        }
        for pickup in pickups
        if material is None or material in pickup.manifest
    ]
    km = [
        (intake.distance_km * w, intake.distance_estimated)
        for intake in intakes
        if intake.distance_km is not None and (w := _region_weight(intake, region)) > 0
    ]
    return summarize(
        collected=collected, received=received, outcomes=outcomes, km=km, factors=factors
    )


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def figures_row(figures: Figures) -> dict[str, Any]:
    """The sums of one material (or of all), rounded for people."""
    return {
        "kg_collected": round(figures.kg_collected, 3),
        "kg_received": round(figures.kg_received, 3),
        "kg_contaminated": round(figures.kg_contaminated, 3),
        "contamination_rate_pct": _pct(figures.contamination_rate_pct),
        "kg_by_disposition": {k: round(v, 3) for k, v in figures.kg_by_disposition.items()},
        "kg_pending": round(figures.kg_pending, 3),
        "diversion_rate_pct": _pct(figures.diversion_rate_pct),
        "value": round(figures.value, 2),
        "co2e_avoided_kg": round(figures.co2e_avoided_kg, 1),
    }


def impact_report(
    store: Store,
    settings: FacilitySettings,
    factors: FactorSet,
    *,
    since: datetime,
    until: datetime,
    region: str | None = None,
    facility_id: str | None = None,
    material: str | None = None,
) -> dict[str, Any]:
    """The report as one JSON object: the period and filters, the factor set it used,
    the totals, the haul and CO2e, and each material."""
    result = impact(
        store,
        settings,
        factors,
        since=since,
        until=until,
        region=region,
        facility_id=facility_id,
        material=material,
    )
    return {
        "from": format_ts(since),
        "to": format_ts(until),
        "region": region,
        "facility_id": facility_id,
        "material": material,
        "currency": settings.currency,
        "factor_set": {
            "name": factors.name,
            "version": factors.version,
            "source": factors.source,
            "url": factors.url,
            "truck_kg_co2e_per_km": factors.truck_kg_per_km,
            "truck_source": factors.truck_source,
        },
        "collections": result.collections,
        "km_driven": round(result.km_driven, 1),
        "km_estimated": round(result.km_estimated, 1),
        "co2e_truck_kg": round(result.truck_co2e_kg, 1),
        "co2e_net_kg": round(result.net_co2e_avoided_kg, 1),
        "totals": figures_row(result.totals),
        "materials": [
            {"material": name, **figures_row(figures)} for name, figures in result.materials.items()
        ],
    }


def impact_series(
    store: Store,
    settings: FacilitySettings,
    factors: FactorSet,
    *,
    since: datetime,
    until: datetime,
    step: timedelta = timedelta(days=1),
    region: str | None = None,
    facility_id: str | None = None,
) -> list[dict[str, Any]]:
    """The report's totals per step (a day by default) of ``[since, until)``, for charts
    of received kg, diversion and CO2e over time (a dashboard page, later)."""
    points = []
    start = since
    while start < until:
        stop = min(start + step, until)
        result = impact(
            store, settings, factors, since=start, until=stop, region=region,
            facility_id=facility_id,
        )  # fmt: skip
        points.append(
            {
                "from": format_ts(start),
                "to": format_ts(stop),
                "collections": result.collections,
                "km_driven": round(result.km_driven, 1),
                "co2e_net_kg": round(result.net_co2e_avoided_kg, 1),
                **figures_row(result.totals),
            }
        )
        start = stop
    return points


CSV_COLUMNS = [
    "material",
    "kg_collected",
    "kg_received",
    "kg_contaminated",
    "contamination_rate_pct",
    *(f"kg_{d}" for d in DISPOSITIONS),
    "kg_pending",
    "diversion_rate_pct",
    "value",
    "co2e_avoided_kg",
    "collections",
    "km_driven",
    "co2e_truck_kg",
    "co2e_net_kg",
]


def impact_csv(report: dict[str, Any]) -> str:
    """The report as CSV: a row per material, then a ``total`` row with the haul and the
    net; a header names the columns, and a comment line the period and the factor set."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    factor = report["factor_set"]
    out.write(
        f"# impact {report['from']} to {report['to']}; region {report['region'] or 'all'}; "
        f"facility {report['facility_id'] or 'all'}; factors: {factor['name']}, "
        f"{factor['version']}; value in {report['currency']}\n"
    )
    writer.writerow(CSV_COLUMNS)

    def row(name: str, figures: dict[str, Any], extra: dict[str, Any]) -> list[Any]:
        flat = {**figures, **{f"kg_{k}": v for k, v in figures["kg_by_disposition"].items()}}
        flat.update(extra, material=name)
        return ["" if flat.get(column) is None else flat[column] for column in CSV_COLUMNS]

    for entry in report["materials"]:
        writer.writerow(row(entry["material"], entry, {}))
    writer.writerow(
        row(
            "total",
            report["totals"],
            {
                key: report[key]
                for key in ("collections", "km_driven", "co2e_truck_kg", "co2e_net_kg")
            },
        )
    )
    return out.getvalue()
