"""Facilities: the receiving sites, and their stock of recovered goods with its movements."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from cloud_bridge.api.auth import Principal, require
from cloud_bridge.api.deps import Context, Reader
from cloud_bridge.api.facility_schemas import Facility, Inventory, MovementBody, MovementRow
from cloud_bridge.api.params import LimitParam, check_limit
from cloud_bridge.api.responses import errors
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.services.facility import MovementRequest
from cloud_bridge.views.facility import facility_row, inventory, movement_row

router = APIRouter(
    prefix="/v1/facilities",
    tags=["facilities"],
    responses=errors(401, 403),
    route_class=StrictJsonRoute,
)

FacilityReader = Annotated[Principal, Depends(require("facility:read"))]
FacilityActor = Annotated[Principal, Depends(require("facility:act"))]
FacilityIdPath = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="The facility's id.")
]


@router.get("", response_model=list[Facility], summary="Receiving facilities")
async def list_facilities(_: FacilityReader, ctx: Context) -> list[dict[str, Any]]:
    """Every facility in the settings: where it is, whom it serves, what it accepts."""
    return [facility_row(site) for site in ctx.settings.facilities.sites]


def _known(ctx: Context, facility_id: str) -> None:
    if ctx.settings.facilities.site(facility_id) is None:
        raise HTTPException(status_code=404, detail=f"no facility {facility_id!r}")


@router.get(
    "/{facility_id}/inventory",
    response_model=Inventory,
    summary="A facility's stock",
    responses=errors(404, 422),
)
async def get_inventory(
    _: FacilityReader,
    ctx: Context,
    store: Reader,
    request: Request,
    facility_id: FacilityIdPath,
    limit: LimitParam = None,
) -> dict[str, Any]:
    """Stock per category (the sums of its movements) and the newest ``limit`` movements."""
    rows = check_limit(request, limit)  # a bad query is a 422 whichever facility it names
    _known(ctx, facility_id)
    return inventory(store, facility_id, rows)


@router.post(
    "/{facility_id}/inventory",
    response_model=MovementRow,
    status_code=201,
    summary="Move stock in or out",
    responses=errors(404, 409, 422, 503),
)
def move_stock(
    who: FacilityActor, ctx: Context, facility_id: FacilityIdPath, body: MovementBody
) -> dict[str, Any]:
    """Goods into (kg > 0) or out of (kg < 0) stock; never below what is held (409)."""
    reason = body.reason or ("issue" if body.kg < 0 else "adjust")
    request = MovementRequest(
        facility_id=facility_id,
        category=body.category,
        kg=body.kg,
        reason=reason,
        count=body.count,
        note=body.note,
    )
    movement = ctx.actions.facility(
        lambda service: service.move_stock(request, who.name, who.facilities)
    )
    return movement_row(movement)
