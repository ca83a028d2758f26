"""Timestamp columns of the SQLite store: RFC 3339 UTC text with milliseconds.

Text of this one form sorts in time order, so range queries compare strings.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from protocol import format_ts, parse_ts

_ZERO = timedelta(0)


def fmt(value: datetime) -> str:
    """``format_ts`` for the hot path: aware UTC datetimes (as the models give) via isoformat."""
    if value.utcoffset() == _ZERO:
        return value.isoformat(timespec="milliseconds")[:23] + "Z"
    return format_ts(value)


def ts(value: datetime | None) -> str | None:
    """A nullable timestamp column."""
    return None if value is None else fmt(value)


def parse(value: str) -> datetime:
    """A timestamp column read back: the stored form (``...Z``, from :func:`fmt`) straight
    through ``fromisoformat``, anything else through ``parse_ts`` (fill histories read
    hundreds of these per forecast)."""
    if value.endswith("Z"):
        return datetime.fromisoformat(value)
    return parse_ts(value)


def dt(value: str | None) -> datetime | None:
    """A nullable timestamp column read back."""
    return None if value is None else parse(value)
