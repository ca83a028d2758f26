"""Query parameters shared by the routers, validated so that a 422 names the field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import HTTPException, Query, Request
from pydantic import WithJsonSchema

from cloud_bridge.views.exports import DATE_PATTERN, TIME_PATTERN, parse_when

BIN_ID = r"^[a-z0-9][a-z0-9-]{2,62}$"
PICKUP_ID = r"^[A-Za-z0-9_-]{1,64}$"
TICKET_ID = r"^[A-Za-z0-9_-]{1,64}$"
COMMAND_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
REGION = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

WHEN_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date", "pattern": DATE_PATTERN, "maxLength": 40},
        {"type": "string", "format": "date-time", "pattern": TIME_PATTERN, "maxLength": 40},
    ],
    "examples": ["2026-11-01", "2026-11-01T10:00:00Z", "2026-11-01T11:00:00.5+01:00"],
}
"""What ``from`` and ``to`` take, as the OpenAPI document states it: a date (UTC) or an
RFC 3339 time with its offset, exactly the forms :func:`parse_when` reads."""

FromParam = Annotated[
    str | None,
    Query(
        alias="from",
        description="Start of the range (inclusive): a date YYYY-MM-DD (midnight UTC) or an "
        "RFC 3339 time with its offset.",
        max_length=40,
    ),
    WithJsonSchema(WHEN_SCHEMA),
]
ToParam = Annotated[
    str | None,
    Query(
        alias="to",
        description="End of the range (exclusive; a date YYYY-MM-DD includes that whole UTC "
        "day), or an RFC 3339 time with its offset; after 'from'.",
        max_length=40,
    ),
    WithJsonSchema(WHEN_SCHEMA),
]
LimitParam = Annotated[
    int | None,
    Query(
        ge=1,
        description="Most rows returned (default 1000 or api.max_rows if lower; at most "
        "api.max_rows, the maximum this document states).",
    ),
]
DEFAULT_LIMIT = 1000
MAX_ID = 2**63 - 1
"""The largest id SQLite stores (a signed 64-bit integer): larger ones are a 422."""


def field_error(where: str, name: str, message: str, value: Any = None) -> HTTPException:
    """A 422 in FastAPI's own shape, naming the field."""
    return HTTPException(
        status_code=422,
        detail=[{"loc": [where, name], "msg": message, "type": "value_error", "input": value}],
    )


def date_range(
    since: str | None, until: str | None, *, required: bool = False
) -> tuple[datetime | None, datetime | None]:
    """Parse ``from`` and ``to``; both must be given when ``required``, and from < to."""
    bounds: list[datetime | None] = []
    for name, text, end in (("from", since, False), ("to", until, True)):
        if text is None:
            if required:
                raise field_error("query", name, "Field required")
            bounds.append(None)
            continue
        try:
            bounds.append(parse_when(text, end=end))
        except ValueError as err:
            raise field_error("query", name, str(err), text) from None
    start, stop = bounds
    if start is not None and stop is not None and start >= stop:
        raise field_error("query", "to", "must be after 'from'", until)
    return start, stop


def check_limit(request: Request, limit: int | None) -> int:
    """``limit`` (or the default) bounded by the settings' ``api.max_rows``."""
    most: int = request.app.state.context.settings.api.max_rows
    if limit is None:
        return min(DEFAULT_LIMIT, most)
    if limit > most:
        raise field_error("query", "limit", f"Input should be less than or equal to {most}", limit)
    return limit
