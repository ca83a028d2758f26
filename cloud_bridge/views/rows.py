"""JSON rows of what the store holds, shared by the API's responses and ``bin-bridge --json``.

The tables people read on a terminal are the CLI's own (:mod:`cloud_bridge.cli.tables`),
so the API never loads a terminal library.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.domain.records import (
    BinRecord,
    CommandRecord,
    Delivery,
    DepositRow,
    PickupRecord,
    RejectionCount,
    TicketRecord,
)
from cloud_bridge.domain.ticket_rules import config_state
from cloud_bridge.store.protocols import FillPoint
from protocol import format_ts


def _when(value: datetime | None) -> str | None:
    return None if value is None else format_ts(value)


def forecast_row(forecast: Forecast | None) -> dict[str, Any]:
    """A bin's forecast as JSON fields (all null when there is none yet)."""
    if forecast is None:
        return {
            "predicted_full_at": None,
            "forecast_low": None,
            "forecast_high": None,
            "forecast_method": None,
            "fill_rate_pct_per_h": None,
            "forecast_at": None,
        }
    return {
        "predicted_full_at": _when(forecast.predicted_full_at),
        "forecast_low": _when(forecast.low),
        "forecast_high": _when(forecast.high),
        "forecast_method": forecast.method,
        "fill_rate_pct_per_h": None
        if forecast.rate_pct_per_h is None
        else round(forecast.rate_pct_per_h, 3),
        "forecast_at": format_ts(forecast.computed_at),
    }


def forecast_detail(forecast: Forecast | None) -> dict[str, Any] | None:
    """The whole forecast (level, points, full level) for the forecast endpoint."""
    if forecast is None:
        return None
    return {
        **forecast_row(forecast),
        "level_pct": None if forecast.level_pct is None else round(forecast.level_pct, 2),
        "full_pct": forecast.full_pct,
        "points": forecast.points,
    }


def fill_row(point: FillPoint) -> dict[str, Any]:
    """One fill reading."""
    return {
        "seq": point.seq,
        "ts": format_ts(point.ts),
        "received_at": _when(point.received_at),
        "clock_synced": point.clock_synced,
        "at": format_ts(point.at),
        "fill_pct": point.fill_pct,
        "weight_kg": point.weight_kg,
        "door": point.door,
    }


def deposit_row(row: DepositRow) -> dict[str, Any]:
    """One deposit event."""
    return {
        "bin_id": row.bin_id,
        "seq": row.seq,
        "deposit_id": row.deposit_id,
        "ts": format_ts(row.ts),
        "received_at": _when(row.received_at),
        "clock_synced": row.clock_synced,
        "category": row.category,
        "confidence": row.confidence,
        "accepted": row.accepted,
        "reason": row.reason,
        "weight_g": row.weight_g,
        "model": row.model,
    }


def delivery_row(delivery: Delivery) -> dict[str, Any]:
    """One webhook delivery (the body is left out; ``key`` names what it carries)."""
    return {
        "id": delivery.id,
        "endpoint": delivery.endpoint,
        "kind": delivery.kind,
        "key": delivery.key,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "created_at": format_ts(delivery.created_at),
        "next_attempt_at": format_ts(delivery.next_attempt_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "delivered_at": _when(delivery.delivered_at),
    }


def bin_row(record: BinRecord, forecast: Forecast | None = None) -> dict[str, Any]:
    """A bin as one JSON object (``bin_id``, ``online``, ``fill_pct``, ``last_seq``, ...)."""
    location = record.location
    return {
        "bin_id": record.bin_id,
        "region": record.region,
        "online": record.online,
        "registered": record.registered,
        "location": None if location is None else {"lat": location.lat, "lon": location.lon},
        "fill_pct": record.fill_pct,
        "fill_mm": record.fill_mm,
        "weight_kg": record.weight_kg,
        "temp_c": record.temp_c,
        "door": record.door,
        "deposits_since_empty": record.deposits_since_empty,
        "last_seq": record.last_seq,
        "last_ts": None if record.last_ts is None else format_ts(record.last_ts),
        "last_seen": None if record.last_seen is None else format_ts(record.last_seen),
        "clock_synced": record.clock_synced,
        "bd_seq": record.bd_seq,
        "agent_version": record.agent_version,
        "config_version": record.config_version,
        "alarms": sorted(kind for kind, flag in record.alarms.items() if flag.active),
        "faults": sorted(key for key, flag in record.faults.items() if flag.active),
        "pickup_hold": record.pickup_hold,
        "offline_since": _when(record.offline_since),
        "health": _health(record),
        "config_desired_version": record.desired_version,
        "config_desired_at": _when(record.desired_at),
        "config_reported_version": record.reported_version,
        "config_reported_status": record.reported_status,
        "config_reported_error": record.reported_error,
        **forecast_row(forecast),
    }


def _health(record: BinRecord) -> dict[str, Any] | None:
    health = record.health
    if health is None:
        return None
    return {
        "disk_free_mb": health.disk_free_mb,
        "outbox_depth": health.outbox_depth,
        "outbox_oldest_s": health.outbox_oldest_s,
        "sensors": dict(health.sensors),
        "tray_idle_g": health.tray_idle_g,
    }


FLAGGED_CONFIG_STATES = frozenset({"rejected", "rolled_back", "overdue"})
"""Configuration states of bins that did not apply what was pushed to them."""


def config_row(record: BinRecord, now: datetime, grace_s: float) -> dict[str, Any]:
    """Desired versus reported configuration of one bin, and where it stands."""
    state = config_state(record, now, grace_s)
    return {
        "bin_id": record.bin_id,
        "region": record.region,
        "online": record.online,
        "desired_version": record.desired_version,
        "desired_at": _when(record.desired_at),
        "reported_version": record.reported_version,
        "reported_status": record.reported_status,
        "reported_error": record.reported_error,
        "reported_at": _when(record.reported_at),
        "config_version": record.config_version,
        "state": state or "none",
        "flagged": state in FLAGGED_CONFIG_STATES,
    }


def ticket_row(record: TicketRecord) -> dict[str, Any]:
    """A ticket as its wire message (the fields technicians receive)."""
    return record.message().model_dump(mode="json")


def command_row(record: CommandRecord) -> dict[str, Any]:
    """A command, its status and the bin's answer."""
    return {
        "id": record.command_id,
        "bin_id": record.bin_id,
        "name": record.name,
        "args": record.args,
        "status": record.status,
        "issued_at": format_ts(record.issued_at),
        "expires_at": format_ts(record.expires_at),
        "actor": record.actor,
        "result": record.result,
        "error": record.error,
        "answered_at": _when(record.answered_at),
        "timed_out_at": _when(record.timed_out_at),
    }


def offline_warning(record: BinRecord | None, command: CommandRecord, grace_s: float) -> str | None:
    """What to tell whoever sent ``command`` to a bin that is offline (None while it is
    online): since when, and how long the command waits for it before it times out."""
    if record is None or record.online:
        return None
    if record.offline_since is not None:
        since = f"offline since {format_ts(record.offline_since)}"
    elif record.last_seen is not None:
        since = f"offline (last heard {format_ts(record.last_seen)})"
    else:
        since = "offline (never heard online)"
    lifetime = (command.expires_at - command.issued_at).total_seconds()
    gives_up = format_ts(command.expires_at + timedelta(seconds=grace_s))
    return (
        f"bin {command.bin_id} is {since}: the command waits in its broker session and runs "
        f"only if the bin returns before {format_ts(command.expires_at)} (ttl {lifetime:g} s); "
        f"unanswered, it times out at {gives_up}"
    )


def pickup_row(record: PickupRecord) -> dict[str, Any]:
    """A pickup as its wire message (the fields schedulers receive)."""
    return record.message().model_dump(mode="json")


def rejection_row(count: RejectionCount) -> dict[str, Any]:
    """One rejection counter as a JSON object."""
    return {
        "reason": count.reason,
        "count": count.count,
        "last_topic": count.last_topic,
        "last_detail": count.last_detail,
        "last_at": None if count.last_at is None else format_ts(count.last_at),
    }
