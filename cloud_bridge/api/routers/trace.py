"""Traceability: where the material of a deposit, a bin or a pickup went (pickup, then
intake, then disposition); the reverse, which bins fed a lot, is
``GET /v1/intakes/{intake_id}/trace``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path

from cloud_bridge.api.auth import Principal, require
from cloud_bridge.api.deps import Context, Reader
from cloud_bridge.api.facility_schemas import BinTrace, DepositTrace, PickupTrace
from cloud_bridge.api.params import BIN_ID, MAX_ID, PICKUP_ID, FromParam, ToParam, date_range
from cloud_bridge.api.responses import errors
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.views.facility import bin_trace, deposit_trace, pickup_trace

router = APIRouter(
    prefix="/v1/trace",
    tags=["facilities"],
    responses=errors(401, 403, 404, 422),
    route_class=StrictJsonRoute,
)

FacilityReader = Annotated[Principal, Depends(require("facility:read"))]
BinIdPath = Annotated[str, Path(pattern=BIN_ID, description="The bin's id.")]


@router.get("/pickups/{pickup_id}", response_model=PickupTrace, summary="Where a pickup went")
async def trace_pickup(
    _: FacilityReader,
    store: Reader,
    pickup_id: Annotated[str, Path(pattern=PICKUP_ID, description="The pickup's id.")],
) -> dict[str, Any]:
    """The loads that received the pickup, its kg per category in each, what it became."""
    pickup = store.get_pickup(pickup_id)
    if pickup is None:
        raise HTTPException(status_code=404, detail=f"no pickup {pickup_id!r}")
    return pickup_trace(store, pickup)


@router.get("/bins/{bin_id}", response_model=BinTrace, summary="Where a bin's material went")
async def trace_bin(
    _: FacilityReader,
    ctx: Context,
    store: Reader,
    bin_id: BinIdPath,
    since: FromParam = None,
    until: ToParam = None,
) -> dict[str, Any]:
    """Its pickups collected in the range (by collection time), each traced, and its
    contamination rate over its most recent intakes."""
    start, stop = date_range(since, until)
    if store.get_bin(bin_id) is None:
        raise HTTPException(status_code=404, detail=f"no bin {bin_id!r}")
    return bin_trace(store, bin_id, ctx.settings.facilities, since=start, until=stop)


@router.get("/deposits/{bin_id}/{seq}", response_model=DepositTrace, summary="Where a deposit went")
async def trace_deposit(
    _: FacilityReader,
    store: Reader,
    bin_id: BinIdPath,
    seq: Annotated[int, Path(ge=1, le=MAX_ID, description="The deposit event's seq.")],
) -> dict[str, Any]:
    """The deposit, the collected pickup that took it, and that pickup's trace."""
    trace = deposit_trace(store, bin_id, seq)
    if trace is None:
        raise HTTPException(status_code=404, detail=f"no deposit {seq} of bin {bin_id!r}")
    return trace
