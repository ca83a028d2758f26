"""The pickup board: open pickups in the columns a scheduler works through.

A read model beside :mod:`cloud_bridge.views.fleet`, so the dashboard's board and any
later view group and describe pickups the same way. Every string here is data a bin or
a user supplied; whoever renders it escapes it.
"""

from __future__ import annotations

from typing import Any

from cloud_bridge.domain.records import PickupRecord
from cloud_bridge.store.protocols import Store
from protocol import format_ts

COLUMNS: tuple[str, ...] = ("requested", "scheduled", "escalated")
"""The board's columns, one per open status, in the order a scheduler works."""

_PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2}


def _ts(value: Any) -> str | None:
    return None if value is None else format_ts(value)


def pickup_card(pickup: PickupRecord) -> dict[str, Any]:
    """One open pickup as a card on the board."""
    return {
        "pickup_id": pickup.pickup_id,
        "bin_id": pickup.bin_id,
        "region": pickup.region,
        "status": pickup.status,
        "priority": pickup.priority,
        "reason": pickup.reason,
        "fill_pct": None if pickup.fill_pct is None else round(pickup.fill_pct, 1),
        "predicted_full_at": _ts(pickup.predicted_full_at),
        "due_by": format_ts(pickup.due_by),
        "requested_at": format_ts(pickup.requested_at),
        "acknowledged_at": _ts(pickup.acknowledged_at),
        "scheduled_for": _ts(pickup.scheduled_for),
        "escalated_at": _ts(pickup.escalated_at),
        "note": pickup.note,
        "manifest": [
            {"category": category, "count": entry.count, "kg": round(entry.kg, 2)}
            for category, entry in sorted(pickup.manifest.items())
        ],
    }


def pickup_board(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every open pickup by column, the most urgent first (priority, then due_by)."""
    board: dict[str, list[PickupRecord]] = {column: [] for column in COLUMNS}
    for pickup in store.list_pickups(open_only=True):
        board.setdefault(pickup.status, []).append(pickup)
    return {
        column: [
            pickup_card(p)
            for p in sorted(pickups, key=lambda p: (_PRIORITY_ORDER.get(p.priority, 9), p.due_by))
        ]
        for column, pickups in board.items()
    }
