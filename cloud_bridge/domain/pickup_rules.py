"""The pickup policy's pure rules: ids, priorities, due times, the smoothed fill.

They decide without I/O (no store, no clock of their own: the caller passes ``now``
and the bin's forecast), so :class:`cloud_bridge.services.pickups.PickupService`,
which carries out the pickup's lifecycle, stays about when to act rather than how
urgent a pickup is.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import deque
from datetime import datetime, timedelta

from cloud_bridge.config.pickups import RegionSettings
from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.domain.records import BinRecord, PickupRecord
from protocol import Location, PickupPriority

PRIORITY_RANK: dict[str, int] = {"normal": 0, "high": 1, "urgent": 2}


def pickup_id_for(bin_id: str, seq: int) -> str:
    """A deterministic id from the message that raised the pickup (replays give the same)."""
    digest = hashlib.sha256(f"{bin_id}:{seq}".encode()).hexdigest()
    return f"pk-{digest[:24]}"


def tick_pickup_id(bin_id: str, at: datetime, reason: str) -> str:
    """The id of a pickup raised by a tick (no message raised it)."""
    digest = hashlib.sha256(f"{bin_id}:{reason}:{at.isoformat()}".encode()).hexdigest()
    return f"pk-{digest[:24]}"


def wanted_priority(
    record: BinRecord,
    pickup: PickupRecord | None,
    policy: RegionSettings,
    forecast: Forecast | None,
    now: datetime,
) -> PickupPriority:
    """Fire is urgent; overflow, a locked door, escalation or little time left are high."""
    if record.alarm_active("fire"):
        return "urgent"
    if record.alarm_active("overflow") or record.door == "locked":
        return "high"
    if pickup is not None and pickup.escalated_at is not None:
        return "high"
    if forecast is not None and forecast.predicted_full_at is not None:
        left = forecast.predicted_full_at - now
        if left <= timedelta(hours=policy.high_priority_due_hours):
            return "high"
    return "normal"


def due_in(priority: PickupPriority, policy: RegionSettings) -> timedelta:
    """How long after its request a pickup of ``priority`` is due."""
    hours = {
        "normal": policy.due_hours,
        "high": policy.high_priority_due_hours,
        "urgent": policy.urgent_due_hours,
    }[priority]
    return timedelta(hours=hours)


def raise_priority(
    record: BinRecord,
    pickup: PickupRecord,
    policy: RegionSettings,
    forecast: Forecast | None,
    now: datetime,
) -> bool:
    """Raise (never lower) the priority; bring ``due_by`` forward to match. True if raised."""
    wanted = wanted_priority(record, pickup, policy, forecast, now)
    if PRIORITY_RANK[wanted] <= PRIORITY_RANK[pickup.priority]:
        return False
    pickup.priority = wanted
    if pickup.escalated_at is None:
        pickup.due_by = min(pickup.due_by, now + due_in(wanted, policy))
    return True


def due_from(forecast: Forecast | None, policy: RegionSettings) -> datetime | None:
    """The forecast time a pickup must be collected by (``due_by_forecast``): the band's
    early end when the region wants it and the forecast has one, else its median."""
    if forecast is None:
        return None
    if policy.due_by_forecast == "low" and forecast.low is not None:
        return forecast.low
    return forecast.predicted_full_at


def window_fill(window: deque[tuple[int, float]]) -> float:
    """The median fill of a non-empty ``(seq, fill)`` window."""
    if len(window) == 1:  # the default window: no median to take (ingest's hot path)
        return float(window[0][1])
    return float(statistics.median(value for _, value in window))


def pickup_location(record: BinRecord, pickup: PickupRecord) -> Location:
    """Where the bin stands: ``location`` is never null on the wire.

    The bin's reported location; a known one is kept when a later state message
    leaves it out; ``{lat: null, lon: null}`` while nothing is known.
    """
    for known in (record.location, pickup.location):
        if known is not None and known.lat is not None and known.lon is not None:
            return known
    return record.location or pickup.location or Location(lat=None, lon=None)
