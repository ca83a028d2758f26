"""Pickups: list and filter, and the schedulers' actions (acknowledge, schedule, cancel)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from cloud_bridge.api.deps import Context, PickupsActor, PickupsReader, Reader
from cloud_bridge.api.params import (
    BIN_ID,
    PICKUP_ID,
    REGION,
    FromParam,
    LimitParam,
    ToParam,
    check_limit,
    date_range,
)
from cloud_bridge.api.responses import errors
from cloud_bridge.api.schemas import PickupManifest
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.domain.records import PickupRecord
from protocol import Pickup, PickupStatus

router = APIRouter(
    prefix="/v1/pickups",
    tags=["pickups"],
    responses=errors(401, 403, 422),
    route_class=StrictJsonRoute,
)

PickupIdPath = Annotated[str, Path(pattern=PICKUP_ID, description="The pickup's id.")]

_ACTION = errors(404, 409, 503)
"""What a scheduler's action can meet besides bad input: an unknown pickup, one that is
no longer open (or whose bin is unknown), a bridge that is not running or answering."""


class ScheduleBody(BaseModel):
    """When the collection is planned."""

    model_config = ConfigDict(extra="forbid")
    scheduled_for: AwareDatetime = Field(description="Planned collection time (RFC 3339).")
    note: str | None = Field(
        default=None, max_length=500, description="The scheduler's note, kept with the pickup."
    )
    confirm: bool = Field(
        default=False,
        description="Schedule after the pickup's due_by on purpose (without it: 409).",
    )

    @field_validator("scheduled_for")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        """In UTC, as it is stored; a time whose UTC falls outside years 1-9999 is refused."""
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("out of range (years 1 to 9999, UTC)") from None


class CancelBody(BaseModel):
    """Why the request is withdrawn."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="Why it is cancelled.")


@router.get("", response_model=list[Pickup], summary="Pickups, filtered")
async def list_pickups(
    _: PickupsReader,
    store: Reader,
    request: Request,
    status: PickupStatus | None = None,
    region: Annotated[str | None, Query(pattern=REGION)] = None,
    bin_id: Annotated[str | None, Query(pattern=BIN_ID)] = None,
    open_only: Annotated[bool, Query(alias="open", description="Only open pickups.")] = False,
    since: FromParam = None,
    until: ToParam = None,
    limit: LimitParam = None,
) -> list[Pickup]:
    """Pickup messages (the fields schedulers receive), oldest request first."""
    start, stop = date_range(since, until)
    limit = check_limit(request, limit)
    records = store.list_pickups(
        open_only=open_only,
        status=status,
        region=region,
        bin_id=bin_id,
        since=start,
        until=stop,
        limit=limit,
    )
    return [record.message() for record in records]


def _pickup(record: PickupRecord | None, pickup_id: str) -> PickupRecord:
    if record is None:
        raise HTTPException(status_code=404, detail=f"no pickup {pickup_id!r}")
    return record


@router.get("/{pickup_id}", response_model=Pickup, summary="One pickup", responses=errors(404))
async def get_pickup(_: PickupsReader, store: Reader, pickup_id: PickupIdPath) -> Pickup:
    """The pickup message as last published."""
    return _pickup(store.get_pickup(pickup_id), pickup_id).message()


@router.get(
    "/{pickup_id}/manifest",
    response_model=PickupManifest,
    summary="What the pickup collects",
    responses=errors(404),
)
async def get_manifest(_: PickupsReader, store: Reader, pickup_id: PickupIdPath) -> dict[str, Any]:
    """Counts and kg per category (of a collected pickup: what was collected)."""
    record = _pickup(store.get_pickup(pickup_id), pickup_id)
    return {
        "pickup_id": pickup_id,
        "bin_id": record.bin_id,
        "status": record.status,
        "manifest": {k: v.model_dump(mode="json") for k, v in record.manifest.items()},
    }


@router.post(
    "/{pickup_id}/acknowledge",
    response_model=Pickup,
    summary="Acknowledge a request",
    responses=_ACTION,
)
def acknowledge(who: PickupsActor, ctx: Context, pickup_id: PickupIdPath) -> Pickup:
    """Mark the request as seen (idempotent); the change is published."""
    record = ctx.actions.pickups(lambda service: service.acknowledge(pickup_id, who.name))
    return record.message()


@router.post(
    "/{pickup_id}/schedule",
    response_model=Pickup,
    summary="Schedule a collection",
    responses=_ACTION,
)
def schedule(
    who: PickupsActor, ctx: Context, pickup_id: PickupIdPath, body: ScheduleBody
) -> Pickup:
    """Status becomes ``scheduled`` with ``scheduled_for``; the change is published.

    A time more than an hour in the past is refused with 422; a time after the pickup's
    ``due_by`` with 409 unless ``confirm`` is true (the dashboard asks the same)."""
    record = ctx.actions.pickups(
        lambda service: service.schedule(
            pickup_id, body.scheduled_for, who.name, body.note, confirm=body.confirm
        )
    )
    return record.message()


@router.post(
    "/{pickup_id}/cancel", response_model=Pickup, summary="Cancel a request", responses=_ACTION
)
def cancel(who: PickupsActor, ctx: Context, pickup_id: PickupIdPath, body: CancelBody) -> Pickup:
    """Status becomes ``cancelled``; no automatic request follows until the bin is emptied."""
    record = ctx.actions.pickups(lambda service: service.cancel(pickup_id, body.reason, who.name))
    return record.message()
