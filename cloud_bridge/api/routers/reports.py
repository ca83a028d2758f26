"""Reports: what the programme achieved in a period, as JSON, CSV or one HTML page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from cloud_bridge.api.auth import Principal, require
from cloud_bridge.api.deps import Context, Reader
from cloud_bridge.api.facility_schemas import ImpactReport
from cloud_bridge.api.params import REGION, FromParam, ToParam, date_range
from cloud_bridge.api.responses import errors
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.config.facilities import Material
from cloud_bridge.store.protocols import Store
from cloud_bridge.views.impact import impact_csv, impact_report, load_factor_set
from cloud_bridge.views.report_html import render_html

# The CSV and HTML routes return their Response themselves; their response class is
# plain Response so their JSON errors are documented as JSON (see routers/exports.py).
router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    responses=errors(401, 403, 422),
    route_class=StrictJsonRoute,
)

ReportsReader = Annotated[Principal, Depends(require("reports:read"))]
RegionQuery = Annotated[str | None, Query(pattern=REGION, description="Only this region.")]
FacilityQuery = Annotated[
    str | None,
    Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Only this facility."),
]
MaterialQuery = Annotated[Material | None, Query(description="Only this material.")]


def _report(
    ctx: Context,
    store: Store,
    since: str | None,
    until: str | None,
    region: str | None,
    facility_id: str | None,
    material: str | None,
) -> dict[str, Any]:
    start, stop = date_range(since, until, required=True)
    assert start is not None
    assert stop is not None
    settings = ctx.settings.facilities
    if facility_id is not None and settings.site(facility_id) is None:
        raise HTTPException(status_code=404, detail=f"no facility {facility_id!r}")
    return impact_report(
        store,
        settings,
        load_factor_set(settings.emission_factors),
        since=start,
        until=stop,
        region=region,
        facility_id=facility_id,
        material=material,
    )


@router.get(
    "/impact", response_model=ImpactReport, summary="Impact in a period", responses=errors(404)
)
def impact(
    _: ReportsReader,
    ctx: Context,
    store: Reader,
    since: FromParam = None,
    until: ToParam = None,
    region: RegionQuery = None,
    facility_id: FacilityQuery = None,
    material: MaterialQuery = None,
) -> dict[str, Any]:
    """kg collected, received, per disposition; diversion and contamination; km driven;
    CO2e avoided, the trucks' and the net; per material. ``from`` and ``to`` are required."""
    return _report(ctx, store, since, until, region, facility_id, material)


@router.get(
    "/impact.csv",
    summary="Impact in a period as CSV",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "A row per material and a total row, as an attachment.",
        },
        **errors(404),
    },
)
def impact_as_csv(
    _: ReportsReader,
    ctx: Context,
    store: Reader,
    since: FromParam = None,
    until: ToParam = None,
    region: RegionQuery = None,
    facility_id: FacilityQuery = None,
    material: MaterialQuery = None,
) -> Response:
    """The report as CSV (the columns of docs/facility.md)."""
    report = _report(ctx, store, since, until, region, facility_id, material)
    return Response(
        content=impact_csv(report),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="impact.csv"'},
    )


@router.get(
    "/impact.html",
    summary="Impact in a period as one HTML page",
    response_class=Response,
    responses={
        200: {
            "content": {"text/html": {"schema": {"type": "string"}}},
            "description": "A self-contained page (inline chart) a manager can forward.",
        },
        **errors(404),
    },
)
def impact_as_html(
    _: ReportsReader,
    ctx: Context,
    store: Reader,
    since: FromParam = None,
    until: ToParam = None,
    region: RegionQuery = None,
    facility_id: FacilityQuery = None,
    material: MaterialQuery = None,
) -> Response:
    """The one-page report (HTML with an inline SVG chart; print it to PDF if needed)."""
    report = _report(ctx, store, since, until, region, facility_id, material)
    generated: datetime = ctx.clock()
    return Response(content=render_html(report, generated=generated), media_type="text/html")
