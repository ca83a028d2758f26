"""The fleet at a glance: the dashboard's headline counts and one row per bin.

A read model beside :mod:`cloud_bridge.views.rows`, so the dashboard's page, its JSON
(``/web/fleet.json``) and any later CLI view count the same way. Every string here is
data a bin or a user supplied; whoever renders it escapes it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Literal

from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.domain.records import BinRecord
from cloud_bridge.store.protocols import Store
from protocol import format_ts

FillBand = Literal["unknown", "low", "medium", "high", "full"]
Status = Literal["offline", "locked", "alarm", "fault", "ok"]

BANDS: tuple[tuple[float, FillBand], ...] = (
    (50.0, "low"),
    (75.0, "medium"),
    (90.0, "high"),
)
"""Upper bounds (exclusive) of the fill bands; from 90 % a bin is ``full``."""

SOON = timedelta(hours=24)
"""A bin predicted full within this is counted among ``full_within_24h``."""


def fill_band(fill_pct: float | None) -> FillBand:
    """The colour band of a fill level (``unknown`` before the first reading)."""
    if fill_pct is None:
        return "unknown"
    for bound, band in BANDS:
        if fill_pct < bound:
            return band
    return "full"


def bin_status(record: BinRecord) -> Status:
    """The one status a bin's marker shows, the most urgent first: offline, locked
    (door locked or overflowing), alarm, fault, ok."""
    if not record.online:
        return "offline"
    if record.door == "locked" or record.alarm_active("overflow"):
        return "locked"
    if any(flag.active for flag in record.alarms.values()):
        return "alarm"
    if any(flag.active for flag in record.faults.values()):
        return "fault"
    return "ok"


def _full_soon(record: BinRecord, forecast: Forecast | None, now: datetime) -> bool:
    if record.fill_pct is not None and record.fill_pct >= BANDS[-1][0]:
        return True
    if forecast is None or forecast.predicted_full_at is None:
        return False
    return forecast.predicted_full_at <= now + SOON


def fleet_row(
    record: BinRecord,
    forecast: Forecast | None,
    open_pickup: str | None,
    open_tickets: int,
) -> dict[str, Any]:
    """One bin as the dashboard shows it."""
    location = record.location
    predicted = None if forecast is None else forecast.predicted_full_at
    return {
        "bin_id": record.bin_id,
        "region": record.region,
        "lat": None if location is None else location.lat,
        "lon": None if location is None else location.lon,
        "fill_pct": None if record.fill_pct is None else round(record.fill_pct, 1),
        "band": fill_band(record.fill_pct),
        "status": bin_status(record),
        "online": record.online,
        "door": record.door,
        "alarms": sorted(kind for kind, flag in record.alarms.items() if flag.active),
        "faults": sorted(key for key, flag in record.faults.items() if flag.active),
        "details": [
            f"{key}: {flag.detail}"
            for key, flag in sorted({**record.alarms, **record.faults}.items())
            if flag.active and flag.detail
        ],
        "predicted_full_at": None if predicted is None else format_ts(predicted),
        "open_pickup": open_pickup,
        "open_tickets": open_tickets,
    }


def fleet_overview(
    store: Store, now: datetime, *, pickups_shown: bool = True, tickets: bool = True
) -> dict[str, Any]:
    """Headline counts and a row per bin (ordered by id).

    ``pickups_shown`` and ``tickets`` are False for a role that may not read pickups or
    tickets: the counts and rows then say nothing about them (``None``).
    """
    forecasts = store.load_forecasts()
    pickups = store.list_pickups(open_only=True) if pickups_shown else []
    by_bin = {pickup.bin_id: pickup for pickup in pickups}
    ticket_counts: Counter[str] = Counter()
    if tickets:
        ticket_counts.update(ticket.bin_id for ticket in store.list_tickets(open_only=True))
    rows = []
    full_soon = 0
    for record in store.load_bins():
        forecast = forecasts.get(record.bin_id)
        pickup = by_bin.get(record.bin_id)
        row = fleet_row(
            record,
            forecast,
            None if pickup is None else pickup.pickup_id,
            ticket_counts[record.bin_id],
        )
        if not tickets:
            row["open_tickets"] = None
        if not pickups_shown:
            row["open_pickup"] = None
        rows.append(row)
        full_soon += _full_soon(record, forecast, now)
    return {
        "at": format_ts(now),
        "counts": {
            "bins": len(rows),
            "full_within_24h": full_soon,
            "open_pickups": len(pickups) if pickups_shown else None,
            "escalated": sum(1 for pickup in pickups if pickup.status == "escalated")
            if pickups_shown
            else None,
            "open_tickets": sum(ticket_counts.values()) if tickets else None,
            "offline": sum(1 for row in rows if not row["online"]),
        },
        "bins": rows,
    }
