"""What a policy cost and how well it served: the figures of one run.

Per policy: collections, road kilometres, vehicle-hours (depot to depot), overflow
bin-hours (hours a bin stood full, turning visitors away), visitors turned away, the fill
of bins when they were emptied (mean and 10th percentile; the share under 25 %, the
figure Nordsense published for Copenhagen's fixed rounds), and the trucks' CO2e. Only
the measured period counts (after the warm-up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.city.book import Collection
from simulator.city.crews import ShiftRoutes
from simulator.city.world import DAY_S, HOUR_S


@dataclass
class PolicyOutcome:
    """Everything one policy's run left behind."""

    name: str
    collections: list[Collection]
    overflows: list[tuple[int, float, float]]
    turned_away: int
    shifts: list[ShiftRoutes]
    measure_from: float
    end: float
    co2e_kg_per_km: float
    wall_s: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def measured_shifts(self) -> list[ShiftRoutes]:
        """The shifts of the measured days."""
        first_day = int(self.measure_from // DAY_S)
        return [shift for shift in self.shifts if shift.day >= first_day]

    def fills(self) -> list[float]:
        """Fill at collection, % of the container, in collection order."""
        return [c.fill_pct for c in self.collections]

    def summary(self) -> dict[str, Any]:
        """The figures, as ``bin-sim city --json`` prints them per policy."""
        fills = np.array(self.fills())
        shifts = self.measured_shifts
        km = sum(shift.km for shift in shifts)
        overflow_h = sum(end - start for _, start, end in self.overflows) / HOUR_S
        return {
            "collections": len(self.collections),
            "km": round(km, 1),
            "vehicle_hours": round(sum(shift.vehicle_hours for shift in shifts), 1),
            "overflow_bin_hours": round(overflow_h, 1),
            "turned_away": self.turned_away,
            "mean_fill_at_collection": round(float(fills.mean()), 1) if len(fills) else None,
            "p10_fill_at_collection": (
                round(float(np.percentile(fills, 10)), 1) if len(fills) else None
            ),
            "under_25_pct_share": (round(float(np.mean(fills < 25.0)), 3) if len(fills) else None),
            "co2e_kg": round(km * self.co2e_kg_per_km, 1),
            "unrouted_stops": sum(shift.unassigned for shift in shifts),
            "wall_s": round(self.wall_s, 1),
            **({"notes": self.notes} if self.notes else {}),
        }

    def overflow_by_hour(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Bins standing full in each hour of the measured period (bin-hours per hour)."""
        start = self.measure_from
        hours = max(1, int(np.ceil((self.end - start) / HOUR_S)))
        series = np.zeros(hours)
        for _, since, until in self.overflows:
            a = (since - start) / HOUR_S
            b = (until - start) / HOUR_S
            for hour in range(int(a), min(int(np.ceil(b)), hours)):
                series[hour] += min(b, hour + 1) - max(a, hour)
        return series

    def km_by_day(self) -> list[tuple[int, float]]:
        """(day, km) of every measured shift."""
        return [(shift.day, shift.km) for shift in self.measured_shifts]


TABLE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("collections", "collections", "{:,}"),
    ("km", "km driven", "{:,.0f}"),
    ("vehicle_hours", "vehicle-hours", "{:,.0f}"),
    ("overflow_bin_hours", "overflow bin-hours", "{:,.0f}"),
    ("turned_away", "visitors turned away", "{:,}"),
    ("mean_fill_at_collection", "mean fill at collection %", "{:.1f}"),
    ("p10_fill_at_collection", "p10 fill at collection %", "{:.1f}"),
    ("under_25_pct_share", "collections under 25 % full", "{:.0%}"),
    ("co2e_kg", "truck CO2e kg", "{:,.0f}"),
    ("unrouted_stops", "stops the routes could not take", "{:,}"),
    ("wall_s", "wall time s", "{:.0f}"),
)
"""The table's rows: summary key, label, format."""


def table_rows(summaries: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One row per figure, one column per policy, formatted."""
    rows: list[list[str]] = []
    for key, label, fmt in TABLE_ROWS:
        row = [label]
        for summary in summaries.values():
            value = summary.get(key)
            row.append("-" if value is None else fmt.format(value))
        rows.append(row)
    return rows
