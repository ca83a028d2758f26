"""Tickets: what technicians must look at, open and resolved, filtered."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request

from cloud_bridge.api.deps import Reader, TicketsReader
from cloud_bridge.api.params import BIN_ID, REGION, TICKET_ID, LimitParam, check_limit
from cloud_bridge.api.responses import errors
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.domain.ticket_rules import TicketKind
from protocol import Ticket, TicketStatus

router = APIRouter(
    prefix="/v1/tickets",
    tags=["tickets"],
    responses=errors(401, 403, 422),
    route_class=StrictJsonRoute,
)


@router.get("", response_model=list[Ticket], summary="Tickets, filtered")
async def list_tickets(
    _: TicketsReader,
    store: Reader,
    request: Request,
    status: TicketStatus | None = None,
    region: Annotated[str | None, Query(pattern=REGION)] = None,
    bin_id: Annotated[str | None, Query(pattern=BIN_ID)] = None,
    kind: TicketKind | None = None,
    open_only: Annotated[bool, Query(alias="open", description="Only open tickets.")] = False,
    limit: LimitParam = None,
) -> list[Ticket]:
    """Ticket messages (the fields technicians receive), oldest opened first."""
    limit = check_limit(request, limit)
    records = store.list_tickets(
        open_only=open_only, status=status, region=region, bin_id=bin_id, kind=kind, limit=limit
    )
    return [record.message() for record in records]


@router.get("/{ticket_id}", response_model=Ticket, summary="One ticket", responses=errors(404))
async def get_ticket(
    _: TicketsReader,
    store: Reader,
    ticket_id: Annotated[str, Path(pattern=TICKET_ID, description="The ticket's id.")],
) -> Ticket:
    """The ticket message as last published."""
    record = store.get_ticket(ticket_id)
    if record is None:
        raise HTTPException(status_code=404, detail=f"no ticket {ticket_id!r}")
    return record.message()
