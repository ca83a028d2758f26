"""Remote configuration: push an overlay to a bin or a region, see desired versus reported."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.api.deps import ConfigPusher, ConfigReader, Context, Reader
from cloud_bridge.api.params import BIN_ID, REGION, field_error
from cloud_bridge.api.responses import errors
from cloud_bridge.api.schemas import BinConfigStatus, ConfigPush, DesiredConfiguration
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.views.rows import config_row
from protocol import format_ts

router = APIRouter(
    prefix="/v1/config",
    tags=["config"],
    responses=errors(401, 403, 422),
    route_class=StrictJsonRoute,
)


ONE_TARGET = "give exactly one of bin_id and region"


class PushBody(BaseModel):
    """What to push, and to whom: exactly one of ``bin_id`` and ``region`` (both, or
    neither, is a 422 naming ``bin_id``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["bin_id"], "properties": {"bin_id": {"type": "string"}}},
                {"required": ["region"], "properties": {"region": {"type": "string"}}},
            ],
            "examples": [
                {"bin_id": "bin-0001", "config": {"intake": {"min_confidence": 0.75}}},
                {"region": "north", "config": {"intervals": {"telemetry_s": 120}}},
            ],
        },
    )
    bin_id: str | None = Field(default=None, pattern=BIN_ID, description="One bin.")
    region: str | None = Field(default=None, pattern=REGION, description="Every bin of a region.")
    config: dict[str, Any] = Field(
        description="Overlay of the remotely settable sections: intervals, thresholds, intake."
    )


@router.post(
    "/push",
    status_code=201,
    response_model=ConfigPush,
    summary="Push a configuration",
    responses=errors(404, 503),
)
def push(who: ConfigPusher, ctx: Context, body: PushBody) -> dict[str, Any]:
    """Validate the overlay (422 naming each bad key), then publish one retained, versioned
    ``config/desired`` per bin."""
    if (body.bin_id is None) == (body.region is None):
        raise field_error("body", "bin_id", ONE_TARGET)
    pushed = ctx.actions.push_config(
        body.config, bin_id=body.bin_id, region=body.region, actor=who.name
    )
    return {
        "pushed": [
            {"bin_id": d.bin_id, "version": d.version, "issued_at": format_ts(d.issued_at)}
            for d in pushed
        ]
    }


@router.get(
    "/status",
    response_model=list[BinConfigStatus],
    summary="Desired versus reported configuration per bin",
)
async def status(
    _: ConfigReader,
    ctx: Context,
    store: Reader,
    region: Annotated[str | None, Query(pattern=REGION)] = None,
    bin_id: Annotated[str | None, Query(pattern=BIN_ID)] = None,
    flagged: Annotated[
        bool, Query(description="Only bins that did not apply what was pushed.")
    ] = False,
) -> list[dict[str, Any]]:
    """Each bin's pushed and reported versions and its state (``pending``, ``applied``,
    ``rejected``, ``rolled_back``, ``overdue``, ``superseded`` or ``none``)."""
    now = ctx.clock()
    rows = []
    graces: dict[str, float] = {}
    for record in store.load_bins():
        if (region is not None and record.region != region) or (
            bin_id is not None and record.bin_id != bin_id
        ):
            continue
        if record.region not in graces:
            graces[record.region] = ctx.settings.tickets.policy(record.region).config_grace_s
        row = config_row(record, now, graces[record.region])
        if not flagged or row["flagged"]:
            rows.append(row)
    return rows


@router.get(
    "/desired/{bin_id}",
    response_model=DesiredConfiguration,
    summary="The configuration pushed to a bin last",
    responses=errors(404),
)
async def desired(
    _: ConfigReader,
    store: Reader,
    bin_id: Annotated[str, Path(pattern=BIN_ID, description="The bin's id.")],
) -> dict[str, Any]:
    """The newest pushed version: its overlay, when and by whom."""
    found = store.get_desired(bin_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no configuration was pushed to {bin_id!r}")
    return {
        "bin_id": found.bin_id,
        "version": found.version,
        "config": found.config,
        "issued_at": format_ts(found.issued_at),
        "actor": found.actor,
    }
