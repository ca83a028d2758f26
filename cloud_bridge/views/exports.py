"""Pickups and deposits as CSV for a date range, for spreadsheets and the facility's systems.

Ranges are half-open ``[since, until)``. :func:`parse_when` reads the bounds the CLI
and the API take: a date (``2026-11-01``, midnight UTC; as an end it includes that
whole day) or an RFC 3339 time with an offset.

Every text cell is neutralised against formula injection (:func:`cell`): a deposit id,
a reject reason or a model name comes from a bin, a cancel reason from a scheduler,
and a spreadsheet would run a cell such as ``=HYPERLINK(...)`` or ``=cmd|...`` for
whoever opens the export. Numeric columns are written as numbers, never quoted, so a
negative latitude stays a number. Rows end in CRLF (RFC 4180), which also makes the
writer quote a cell holding a carriage return, so no cell can start a row of its own.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from cloud_bridge.domain.records import DepositRow, PickupRecord
from protocol import format_ts, parse_ts
from protocol.messages import CATEGORIES

PICKUP_COLUMNS = [
    "pickup_id",
    "bin_id",
    "region",
    "status",
    "priority",
    "reason",
    "fill_pct",
    "requested_at",
    "due_by",
    "predicted_full_at",
    "acknowledged_at",
    "scheduled_for",
    "escalated_at",
    "closed_at",
    "cancel_reason",
    "lat",
    "lon",
    "total_count",
    "total_kg",
] + [f"{category}_{unit}" for category in CATEGORIES for unit in ("count", "kg")]

DEPOSIT_COLUMNS = [
    "bin_id",
    "seq",
    "deposit_id",
    "ts",
    "received_at",
    "clock_synced",
    "category",
    "confidence",
    "accepted",
    "reason",
    "weight_g",
    "model",
]


DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
"""A range bound that is a date (``2026-11-01``): RFC 3339's ``full-date``."""
TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
"""A range bound that is a time: RFC 3339's ``date-time``, with its offset
(``2026-11-01T10:00:00Z``, ``2026-11-01T10:00:00.5+01:00``)."""


def parse_when(text: str, *, end: bool = False) -> datetime:
    """A range bound: ``YYYY-MM-DD`` (UTC; as an ``end``, the day after) or RFC 3339.

    Only these two forms (:data:`DATE_PATTERN`, :data:`TIME_PATTERN`, which the API's
    OpenAPI document states) are read, not everything Python's ``fromisoformat`` would
    take. Raises ValueError with a message saying what is accepted (or that the time
    is out of range, e.g. the day after 9999-12-31).
    """
    is_date = re.fullmatch(DATE_PATTERN, text) is not None
    try:
        if not is_date and re.fullmatch(TIME_PATTERN, text) is None:
            raise ValueError(text)
        if is_date:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        return parse_ts(text)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range (years 1 to 9999, UTC)") from None
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 time with an offset"
        ) from None


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may read as the start of a formula (OWASP's list for CSV injection)."""


def cell(text: str | None) -> str:
    """A text cell a spreadsheet shows as text: one that starts like a formula gets a
    leading single quote (OWASP), anything else is kept as it is; None is empty."""
    if text is None:
        return ""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _when(value: datetime | None) -> str:
    return "" if value is None else format_ts(value)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def pickups_csv(records: Iterable[PickupRecord]) -> str:
    """Pickups, one row each, with the manifest spread over count and kg columns."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PICKUP_COLUMNS)
    for p in records:
        manifest = p.manifest
        writer.writerow(
            [
                cell(p.pickup_id),
                cell(p.bin_id),
                cell(p.region),
                cell(p.status),
                cell(p.priority),
                cell(p.reason),
                _num(p.fill_pct),
                _when(p.requested_at),
                _when(p.due_by),
                _when(p.predicted_full_at),
                _when(p.acknowledged_at),
                _when(p.scheduled_for),
                _when(p.escalated_at),
                _when(p.closed_at),
                cell(p.cancel_reason),
                _num(p.location.lat if p.location else None),
                _num(p.location.lon if p.location else None),
                sum(entry.count for entry in manifest.values()),
                f"{sum(entry.kg for entry in manifest.values()):.3f}",
            ]
            + [
                value
                for category in CATEGORIES
                for value in (
                    (str(manifest[category].count), f"{manifest[category].kg:.3f}")
                    if category in manifest
                    else ("0", "0.000")
                )
            ]
        )
    return out.getvalue()


def deposits_csv(rows: Iterable[DepositRow]) -> str:
    """Deposits, one row each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(DEPOSIT_COLUMNS)
    for d in rows:
        writer.writerow(
            [
                cell(d.bin_id),
                d.seq,
                cell(d.deposit_id),
                format_ts(d.ts),
                _when(d.received_at),
                "" if d.clock_synced is None else str(d.clock_synced).lower(),
                cell(d.category),
                f"{d.confidence:g}",
                str(d.accepted).lower(),
                cell(d.reason),
                f"{d.weight_g:g}",
                cell(d.model),
            ]
        )
    return out.getvalue()
