"""What ``bin-bridge`` prints: JSON rows for programs and rich tables for people."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from cloud_bridge.records import BinRecord, PickupRecord, RejectionCount
from protocol import format_ts


def bin_row(record: BinRecord) -> dict[str, Any]:
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
    }


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


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def bins_table(records: list[BinRecord]) -> Table:
    """The fleet at a glance."""
    table = Table(title=f"{len(records)} bins")
    for name in ("bin", "region", "online", "fill %", "kg", "door", "last seq", "last seen"):
        table.add_column(name)
    for r in records:
        online = "[green]yes[/green]" if r.online else "[red]no[/red]"
        if not r.registered:
            online += " (unregistered)"
        table.add_row(
            r.bin_id,
            r.region,
            online,
            _num(r.fill_pct),
            _num(r.weight_kg, 2),
            r.door or "-",
            str(r.last_seq),
            "-" if r.last_seen is None else format_ts(r.last_seen),
        )
    return table


def pickups_table(records: list[PickupRecord]) -> Table:
    """Pickups and where they stand."""
    table = Table(title=f"{len(records)} pickups")
    for name in ("pickup", "bin", "region", "status", "priority", "reason", "fill %", "due by"):
        table.add_column(name)
    table.add_column("manifest")
    for p in records:
        manifest = ", ".join(
            f"{category} {entry.count}/{entry.kg:.2f} kg"
            for category, entry in sorted(p.manifest.items())
        )
        table.add_row(
            p.pickup_id,
            p.bin_id,
            p.region,
            p.status,
            p.priority,
            p.reason,
            _num(p.fill_pct),
            format_ts(p.due_by),
            manifest or "-",
        )
    return table


def stats_table(messages: dict[str, int], rejections: list[RejectionCount]) -> Table:
    """Stored messages per kind and rejections per reason."""
    table = Table(title="ingest")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("latest example")
    for kind, count in messages.items():
        table.add_row(f"stored {kind}", str(count), "")
    for item in rejections:
        table.add_row(f"[red]rejected {item.reason}[/red]", str(item.count), item.last_detail or "")
    return table
