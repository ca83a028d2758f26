"""Bins: current state, fill history, forecast and the manifest since the last emptying."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request

from cloud_bridge.api.deps import BinsReader, PickupsReader, Reader
from cloud_bridge.api.params import (
    BIN_ID,
    REGION,
    FromParam,
    LimitParam,
    ToParam,
    check_limit,
    date_range,
)
from cloud_bridge.api.responses import errors
from cloud_bridge.api.schemas import Bin, BinForecast, BinManifest, FillReading
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.domain.records import BinRecord
from cloud_bridge.store.protocols import Store
from cloud_bridge.views.rows import bin_row, fill_row, forecast_detail

# bins:read is every role's: only the manifest (pickups:read) can be a 403
router = APIRouter(
    prefix="/v1/bins", tags=["bins"], responses=errors(401, 422), route_class=StrictJsonRoute
)

BinIdPath = Annotated[str, Path(pattern=BIN_ID, description="The bin's id.")]


def _bin(store: Store, bin_id: str) -> BinRecord:
    record = store.get_bin(bin_id)
    if record is None:
        raise HTTPException(status_code=404, detail=f"no bin {bin_id!r}")
    return record


@router.get("", response_model=list[Bin], summary="Every bin with its state and forecast")
async def list_bins(
    _: BinsReader,
    store: Reader,
    region: Annotated[str | None, Query(pattern=REGION)] = None,
    online: bool | None = None,
) -> list[dict[str, Any]]:
    """Bins ordered by id, with ``predicted_full_at`` and its band."""
    forecasts = store.load_forecasts()
    return [
        bin_row(record, forecasts.get(record.bin_id))
        for record in store.load_bins()
        if (region is None or record.region == region)
        and (online is None or record.online == online)
    ]


@router.get("/{bin_id}", response_model=Bin, summary="One bin", responses=errors(404))
async def get_bin(_: BinsReader, store: Reader, bin_id: BinIdPath) -> dict[str, Any]:
    """The bin's state, presence and forecast."""
    return bin_row(_bin(store, bin_id), store.get_forecast(bin_id))


@router.get(
    "/{bin_id}/fill",
    response_model=list[FillReading],
    summary="The bin's fill history",
    responses=errors(404),
)
async def fill_history(
    _: BinsReader,
    store: Reader,
    request: Request,
    bin_id: BinIdPath,
    since: FromParam = None,
    until: ToParam = None,
    limit: LimitParam = None,
) -> list[dict[str, Any]]:
    """Telemetry readings in ``seq`` order (the newest ``limit``), bounded by bin time."""
    start, stop = date_range(since, until)
    limit = check_limit(request, limit)
    _bin(store, bin_id)
    points = store.fill_history(bin_id, since=start, until=stop, limit=limit)
    return [fill_row(point) for point in points]


@router.get(
    "/{bin_id}/forecast",
    response_model=BinForecast,
    summary="When the bin will be full",
    responses=errors(404),
)
async def forecast(_: BinsReader, store: Reader, bin_id: BinIdPath) -> dict[str, Any]:
    """The latest forecast (null until the bridge has made one)."""
    _bin(store, bin_id)
    return {"bin_id": bin_id, "forecast": forecast_detail(store.get_forecast(bin_id))}


@router.get(
    "/{bin_id}/manifest",
    response_model=BinManifest,
    summary="What is in the bin now",
    responses=errors(403, 404),
)
async def manifest(_: PickupsReader, store: Reader, bin_id: BinIdPath) -> dict[str, Any]:
    """Count and kg per category of deposits accepted since the last emptying."""
    record = _bin(store, bin_id)
    entries = store.manifest(bin_id, record.emptied_seq)
    return {
        "bin_id": bin_id,
        "manifest": {k: v.model_dump(mode="json") for k, v in entries.items()},
    }
