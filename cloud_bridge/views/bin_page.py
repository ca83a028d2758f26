"""One bin in full, for the dashboard's bin page: fill history with its forecast,
emptyings and pickups, deposits per category, health, alarms and faults,
configuration and tickets.

A read model beside :mod:`cloud_bridge.views.fleet`. Health beyond the figures the
bridge keeps for tickets (uptime, versions, every sensor) comes from the bin's newest
health report in the message log (``health_seq``), so nothing new is stored for it.
Every string here is data a bin or a user supplied; whoever renders it escapes it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.domain.records import BinRecord, Flag
from cloud_bridge.store.protocols import Store
from cloud_bridge.views.fleet import bin_status, fill_band
from protocol import format_ts, parse_ts

WINDOW = timedelta(days=7)
"""How far back the page looks: fill history, pickups, emptyings, deposits."""

MAX_POINTS = 2000
"""The most fill readings drawn (the newest)."""


@dataclass(frozen=True, slots=True)
class Mark:
    """Something that happened to the bin at a time, drawn on the chart with a letter."""

    at: datetime
    letter: str
    label: str


@dataclass(frozen=True, slots=True)
class History:
    """What the chart draws: readings, the forecast and the marks."""

    points: list[tuple[datetime, float]]
    forecast: Forecast | None
    marks: list[Mark]
    now: datetime


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def _flags(flags: dict[str, Flag]) -> list[dict[str, Any]]:
    return [
        {"name": name, "active": flag.active, "detail": flag.detail}
        for name, flag in sorted(flags.items())
    ]


def _health(store: Store, record: BinRecord) -> dict[str, Any] | None:
    """The newest health report as the bin sent it (None before the first)."""
    if not record.health_seq:
        return None
    payload = store.message_payload(record.bin_id, record.health_seq)
    if payload is None:
        return None
    report: dict[str, Any] = json.loads(payload)
    return {
        "ts": report.get("ts"),
        "sensors": sorted(dict(report.get("sensors") or {}).items()),
        "disk_free_mb": report.get("disk_free_mb"),
        "outbox_depth": report.get("outbox_depth"),
        "outbox_oldest_s": report.get("outbox_oldest_s"),
        "uptime_s": report.get("uptime_s"),
        "cpu_temp_c": report.get("cpu_temp_c"),
        "agent_version": report.get("agent_version"),
        "model_version": report.get("model_version"),
        "config_version": report.get("config_version"),
    }


def _emptied_at(store: Store, record: BinRecord) -> datetime | None:
    """When the bin's newest ``emptied`` event happened (bin time)."""
    if not record.emptied_seq:
        return None
    payload = store.message_payload(record.bin_id, record.emptied_seq)
    if payload is None:
        return None
    ts = json.loads(payload).get("ts")
    return None if ts is None else parse_ts(ts)


def bin_history(store: Store, record: BinRecord, now: datetime) -> History:
    """The chart's data: the last :data:`WINDOW` of readings, the forecast, and marks
    for emptyings (E: the newest ``emptied`` event and every collected pickup),
    pickups requested (P) and collections scheduled (S)."""
    since = now - WINDOW
    readings = store.fill_history(record.bin_id, since=since, until=now, limit=MAX_POINTS)
    points = [(p.at, p.fill_pct) for p in readings if p.fill_pct is not None]
    marks: list[Mark] = []
    emptied = _emptied_at(store, record)
    if emptied is not None and emptied >= since:
        marks.append(Mark(emptied, "E", "emptied"))
    for pickup in store.list_pickups(bin_id=record.bin_id, since=since):
        marks.append(Mark(pickup.requested_at, "P", f"pickup {pickup.pickup_id} requested"))
        collected = pickup.closed_at if pickup.status == "collected" else None
        # a collection is an emptying: marked unless it is the emptied event already marked
        if collected is not None and (
            emptied is None or abs(collected - emptied) > timedelta(minutes=5)
        ):
            marks.append(Mark(collected, "E", f"collected ({pickup.pickup_id})"))
        if pickup.open and pickup.scheduled_for is not None:
            marks.append(Mark(pickup.scheduled_for, "S", "collection scheduled"))
    marks.sort(key=lambda mark: mark.at)
    return History(points, store.get_forecast(record.bin_id), marks, now)


def _deposits(store: Store, bin_id: str, since: datetime) -> list[dict[str, Any]]:
    """Deposits per category since ``since``, accepted and rejected."""
    accepted: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for row in store.list_deposits(bin_id=bin_id, since=since):
        (accepted if row.accepted else rejected)[row.category] += 1
    return [
        {"category": c, "accepted": accepted[c], "rejected": rejected[c]}
        for c in sorted(set(accepted) | set(rejected))
    ]


def bin_detail(
    store: Store,
    record: BinRecord,
    now: datetime,
    *,
    pickups: bool,
    tickets: bool,
    config: bool,
) -> dict[str, Any]:
    """Everything the bin page shows in words; what the role may not read is None."""
    forecast = store.get_forecast(record.bin_id)
    desired = store.get_desired(record.bin_id) if config else None
    return {
        "bin_id": record.bin_id,
        "region": record.region,
        "status": bin_status(record),
        "online": record.online,
        "state_reason": record.state_reason,
        "last_seen": _ts(record.last_seen),
        "fill_pct": None if record.fill_pct is None else round(record.fill_pct, 1),
        "band": fill_band(record.fill_pct),
        "door": record.door,
        "weight_kg": record.weight_kg,
        "predicted_full_at": None if forecast is None else _ts(forecast.predicted_full_at),
        "forecast_low": None if forecast is None else _ts(forecast.low),
        "forecast_high": None if forecast is None else _ts(forecast.high),
        "alarms": _flags(record.alarms),
        "faults": _flags(record.faults),
        "health": _health(store, record),
        "deposits": _deposits(store, record.bin_id, now - WINDOW),
        "pickups": None
        if not pickups
        else [
            {
                "pickup_id": p.pickup_id,
                "status": p.status,
                "requested_at": format_ts(p.requested_at),
                "due_by": format_ts(p.due_by),
                "scheduled_for": _ts(p.scheduled_for),
            }
            for p in store.list_pickups(bin_id=record.bin_id, since=now - WINDOW)
        ],
        "config": None
        if not config
        else {
            "desired_version": record.desired_version,
            "desired_at": _ts(record.desired_at),
            "desired": None if desired is None else json.dumps(desired.config, sort_keys=True),
            "running_version": record.config_version,
            "reported_version": record.reported_version,
            "reported_status": record.reported_status,
            "reported_error": record.reported_error,
            "reported_at": _ts(record.reported_at),
        },
        "tickets": None
        if not tickets
        else [
            {
                "ticket_id": t.ticket_id,
                "kind": t.kind,
                "severity": t.severity,
                "detail": t.detail,
                "opened_at": format_ts(t.opened_at),
            }
            for t in store.list_tickets(bin_id=record.bin_id, open_only=True)
        ],
    }
