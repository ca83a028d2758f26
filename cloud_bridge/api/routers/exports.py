"""Exports: pickups and deposits as CSV for a date range."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from cloud_bridge.api.deps import DepositsReader, PickupsReader, Reader
from cloud_bridge.api.params import FromParam, ToParam, date_range
from cloud_bridge.api.responses import errors
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.views.exports import deposits_csv, pickups_csv

# The routes return a CsvResponse themselves. Their response class is plain Response
# (no media type) because FastAPI files every response a route documents, errors
# included, under that class's media type: with CsvResponse the JSON errors would be
# listed as text/csv. deposits:read is every role's: only the pickups export can be a 403.
router = APIRouter(
    prefix="/v1/exports",
    tags=["exports"],
    responses=errors(401, 422),
    default_response_class=Response,
    route_class=StrictJsonRoute,
)

_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "CSV with a header row, as an attachment.",
    }
}


class CsvResponse(Response):
    """A CSV attachment, sent as ``text/csv`` (``_CSV`` documents it so)."""

    media_type = "text/csv"  # Starlette adds "; charset=utf-8"


def _csv(text: str, name: str) -> CsvResponse:
    return CsvResponse(
        content=text, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/pickups.csv",
    summary="Pickups requested in a date range",
    responses={**_CSV, **errors(403)},
)
def export_pickups(
    _: PickupsReader, store: Reader, since: FromParam = None, until: ToParam = None
) -> CsvResponse:
    """Both ``from`` and ``to`` are required."""
    start, stop = date_range(since, until, required=True)
    return _csv(pickups_csv(store.list_pickups(since=start, until=stop)), "pickups.csv")


@router.get(
    "/deposits.csv",
    summary="Deposits in a date range",
    responses=_CSV,
)
def export_deposits(
    _: DepositsReader, store: Reader, since: FromParam = None, until: ToParam = None
) -> CsvResponse:
    """Both ``from`` and ``to`` are required."""
    start, stop = date_range(since, until, required=True)
    return _csv(deposits_csv(store.list_deposits(since=start, until=stop)), "deposits.csv")
