"""Deposits: what people put in the bins, accepted or not."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from cloud_bridge.api.deps import DepositsReader, Reader
from cloud_bridge.api.params import BIN_ID, FromParam, LimitParam, ToParam, check_limit, date_range
from cloud_bridge.api.responses import errors
from cloud_bridge.api.schemas import Deposit
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.views.rows import deposit_row
from protocol import Category

# deposits:read is every role's: no 403
router = APIRouter(
    prefix="/v1/deposits",
    tags=["deposits"],
    responses=errors(401, 422),
    route_class=StrictJsonRoute,
)


@router.get("", response_model=list[Deposit], summary="Deposits, filtered")
async def list_deposits(
    _: DepositsReader,
    store: Reader,
    request: Request,
    bin_id: Annotated[str | None, Query(pattern=BIN_ID)] = None,
    category: Category | None = None,
    accepted: bool | None = None,
    since: FromParam = None,
    until: ToParam = None,
    limit: LimitParam = None,
) -> list[dict[str, Any]]:
    """Deposit events by bin time."""
    start, stop = date_range(since, until)
    limit = check_limit(request, limit)
    rows = store.list_deposits(
        bin_id=bin_id,
        since=start,
        until=stop,
        category=category,
        accepted=accepted,
        limit=limit,
    )
    return [deposit_row(row) for row in rows]
