"""FastAPI dependencies: the shared context and this thread's read connection."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cloud_bridge.api.auth import Principal, require
from cloud_bridge.api.context import ApiContext
from cloud_bridge.store.protocols import Store


async def context(request: Request) -> ApiContext:
    """The API's shared context."""
    ctx: ApiContext = request.app.state.context
    return ctx


async def reader(request: Request) -> Store:
    """A read-only store for the thread of the handler that asks (the event loop's, for
    ``async`` handlers: short indexed reads are cheaper there than a thread hop)."""
    ctx: ApiContext = request.app.state.context
    return ctx.readers.get()


Context = Annotated[ApiContext, Depends(context)]
Reader = Annotated[Store, Depends(reader)]
BinsReader = Annotated[Principal, Depends(require("bins:read"))]
DepositsReader = Annotated[Principal, Depends(require("deposits:read"))]
PickupsReader = Annotated[Principal, Depends(require("pickups:read"))]
PickupsActor = Annotated[Principal, Depends(require("pickups:act"))]
RoutesReader = Annotated[Principal, Depends(require("routes:read"))]
WebhooksReader = Annotated[Principal, Depends(require("webhooks:read"))]
WebhooksActor = Annotated[Principal, Depends(require("webhooks:act"))]
TicketsReader = Annotated[Principal, Depends(require("tickets:read"))]
CommandsReader = Annotated[Principal, Depends(require("commands:read"))]
CommandsSender = Annotated[Principal, Depends(require("commands:send"))]
ConfigReader = Annotated[Principal, Depends(require("config:read"))]
ConfigPusher = Annotated[Principal, Depends(require("config:push"))]
