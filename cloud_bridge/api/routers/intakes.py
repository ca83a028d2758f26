"""Intakes: loads of collected pickups received at a facility, reconciled with their
manifests; the dispositions of their lots; and which bins fed a lot."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from cloud_bridge.api.auth import Principal, require
from cloud_bridge.api.deps import Context, Reader
from cloud_bridge.api.facility_schemas import (
    DispositionBody,
    DispositionResult,
    IntakeBody,
    IntakeRow,
    LotTrace,
)
from cloud_bridge.api.params import (
    BIN_ID,
    PICKUP_ID,
    FromParam,
    LimitParam,
    ToParam,
    check_limit,
    date_range,
)
from cloud_bridge.api.responses import errors
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.domain.facility import Intake, IntakeLine
from cloud_bridge.services.facility import DispositionRequest, IntakeRequest, PickupPart
from cloud_bridge.store.protocols import Store
from cloud_bridge.views.facility import (
    disposition_row,
    intake_row,
    intake_rows,
    lot_trace,
    movement_row,
)

router = APIRouter(
    prefix="/v1/intakes",
    tags=["facilities"],
    responses=errors(401, 403, 422),
    route_class=StrictJsonRoute,
)

FacilityReader = Annotated[Principal, Depends(require("facility:read"))]
FacilityActor = Annotated[Principal, Depends(require("facility:act"))]
IntakeIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="The intake's (lot's) id.")
]

_ACTION = errors(404, 409, 503)
"""An unknown facility, pickup or lot; a pickup not collected or received already, more
kg than a lot has left; a bridge that is not running or answering."""


@router.post(
    "",
    response_model=IntakeRow,
    status_code=201,
    summary="Receive a load",
    responses=_ACTION,
)
def record_intake(who: FacilityActor, ctx: Context, body: IntakeBody) -> dict[str, Any]:
    """A load of collected pickups (several, or a share of a split one) weighed in per
    category; answers the load reconciled with the pickups' manifests."""
    request = IntakeRequest(
        facility_id=body.facility_id,
        pickups=[PickupPart(p.pickup_id, p.share) for p in body.pickups],
        lines=[IntakeLine(ln.category, ln.kg, ln.count, ln.contaminated_kg) for ln in body.lines],
        received_at=body.received_at,
        distance_km=body.distance_km,
        note=body.note,
    )
    intake = ctx.actions.facility(
        lambda service: service.record_intake(request, who.name, who.facilities)
    )
    return intake_row(intake, [], ctx.settings.facilities)


@router.get("", response_model=list[IntakeRow], summary="Loads received, filtered")
async def list_intakes(
    _: FacilityReader,
    ctx: Context,
    store: Reader,
    request: Request,
    facility_id: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = None,
    bin_id: Annotated[str | None, Query(pattern=BIN_ID)] = None,
    pickup_id: Annotated[str | None, Query(pattern=PICKUP_ID)] = None,
    since: FromParam = None,
    until: ToParam = None,
    limit: LimitParam = None,
) -> list[dict[str, Any]]:
    """Loads by the time they were received, oldest first, with their reconciliation."""
    start, stop = date_range(since, until)
    intakes = store.list_intakes(
        facility_id=facility_id,
        bin_id=bin_id,
        pickup_id=pickup_id,
        since=start,
        until=stop,
        limit=check_limit(request, limit),
    )
    return intake_rows(store, intakes, ctx.settings.facilities)


def _intake(store: Store, intake_id: str) -> Intake:
    intake = store.get_intake(intake_id)
    if intake is None:
        raise HTTPException(status_code=404, detail=f"no intake {intake_id!r}")
    return intake


@router.get("/{intake_id}", response_model=IntakeRow, summary="One load", responses=errors(404))
async def get_intake(
    _: FacilityReader, ctx: Context, store: Reader, intake_id: IntakeIdPath
) -> dict[str, Any]:
    """The load reconciled with the manifests, and the decisions on it."""
    return intake_rows(store, [_intake(store, intake_id)], ctx.settings.facilities)[0]


@router.get(
    "/{intake_id}/trace",
    response_model=LotTrace,
    summary="Which bins fed a lot",
    responses=errors(404),
)
async def trace_lot(_: FacilityReader, store: Reader, intake_id: IntakeIdPath) -> dict[str, Any]:
    """The bins (through their pickups) whose material is in the lot, with their kg."""
    return lot_trace(store, _intake(store, intake_id))


@router.post(
    "/{intake_id}/dispositions",
    response_model=DispositionResult,
    status_code=201,
    summary="Decide what part of a lot becomes",
    responses=_ACTION,
)
def record_disposition(
    who: FacilityActor, ctx: Context, intake_id: IntakeIdPath, body: DispositionBody
) -> dict[str, Any]:
    """Reuse, repair, recycle, recover or dispose of kg of one category of the lot; with
    ``restock``, reused or repaired goods go into the facility's stock."""
    request = DispositionRequest(
        intake_id=intake_id,
        category=body.category,
        disposition=body.disposition,
        kg=body.kg,
        count=body.count,
        grade=body.grade,
        note=body.note,
        restock=body.restock,
    )
    record, movement = ctx.actions.facility(
        lambda service: service.record_disposition(request, who.name, who.facilities)
    )
    return {
        "disposition": disposition_row(record),
        "movement": None if movement is None else movement_row(movement),
    }
