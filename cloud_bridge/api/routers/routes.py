"""Routes: a region's open pickups batched into vehicle routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cloud_bridge.api.deps import Context, Reader, RoutesReader
from cloud_bridge.api.params import REGION, field_error
from cloud_bridge.api.responses import errors
from cloud_bridge.api.schemas import RoutePlan
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.planning.routes import plan_routes, stops_for_region

# a region without a depot is a 422 naming the query parameter, not a 404
router = APIRouter(
    prefix="/v1/routes",
    tags=["routes"],
    responses=errors(401, 403, 422),
    route_class=StrictJsonRoute,
)


@router.get("", response_model=RoutePlan, summary="Plan routes for a region's open pickups")
def routes(
    _: RoutesReader,
    ctx: Context,
    store: Reader,
    region: Annotated[str, Query(pattern=REGION, description="The region to plan.")],
) -> dict[str, Any]:
    """Vehicles' ordered stops with distances, ETAs and loads; stops no vehicle takes."""
    routing = ctx.settings.routing
    fleet = routing.regions.get(region)
    if fleet is None:
        raise field_error("query", "region", f"no depot configured for region {region!r}", region)
    stops, missing = stops_for_region(store, routing, region)
    plan = plan_routes(
        region,
        stops,
        fleet,
        start=ctx.clock(),
        service_minutes=routing.service_minutes,
        time_limit_s=routing.time_limit_s,
        unassigned=missing,
    )
    return plan.as_json()
