"""Webhook deliveries: the queue, its dead letters, and retrying them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request

from cloud_bridge.api.deps import Context, Reader, WebhooksActor, WebhooksReader
from cloud_bridge.api.params import MAX_ID, LimitParam, check_limit
from cloud_bridge.api.responses import errors
from cloud_bridge.api.schemas import DeliveryState, RetriedDelivery, WebhookDelivery
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.views.rows import delivery_row

router = APIRouter(
    prefix="/v1/webhooks",
    tags=["webhooks"],
    responses=errors(401, 403, 422),
    route_class=StrictJsonRoute,
)


@router.get(
    "/deliveries",
    response_model=list[WebhookDelivery],
    summary="Webhook deliveries (dead letters with state=dead)",
)
async def deliveries(
    _: WebhooksReader,
    store: Reader,
    request: Request,
    state: DeliveryState | None = None,
    limit: LimitParam = None,
) -> list[dict[str, Any]]:
    """Newest first."""
    limit = check_limit(request, limit)
    return [delivery_row(d) for d in store.list_deliveries(state=state, limit=limit)]


@router.post(
    "/deliveries/{delivery_id}/retry",
    response_model=RetriedDelivery,
    summary="Retry a dead letter",
    responses=errors(404, 409, 503),
)
def retry(
    _: WebhooksActor,
    ctx: Context,
    delivery_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The delivery's id.")],
) -> dict[str, Any]:
    """Make a dead-lettered delivery pending again, with a fresh count of attempts.

    404 for an id that names no delivery, 409 for one that is not dead.
    """
    if not ctx.actions.retry_delivery(delivery_id):
        found = ctx.readers.get().get_delivery(delivery_id)
        if found is None:
            raise HTTPException(status_code=404, detail=f"no delivery {delivery_id}")
        raise HTTPException(
            status_code=409, detail=f"delivery {delivery_id} is {found.state}, not dead"
        )
    return {"id": delivery_id, "state": "pending"}
