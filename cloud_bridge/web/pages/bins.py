"""The bin page (``/bins/{bin_id}``): one bin's fill history and forecast as a chart
drawn on the server, deposits, health, alarms and faults, and, for the roles that may
read them, its pickups, configuration and open tickets.

Every role with ``bins:read`` sees the page; what else it shows follows the API's
permission table (``pickups:read``, ``config:read``, ``tickets:read``), so a role
sees here what it could read through ``/v1``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud_bridge.domain.access import allowed
from cloud_bridge.views.bin_page import bin_detail, bin_history
from cloud_bridge.web.chart import fill_chart
from cloud_bridge.web.context import _viewer

router = APIRouter(include_in_schema=False)


@router.get("/bins/{bin_id}")
def bin_page(request: Request, bin_id: str) -> Response:
    """One bin in full (404 for a bin the bridge does not know)."""
    seen = _viewer(request, "bins:read")
    if isinstance(seen, Response):
        return seen
    dashboard, session, principal = seen
    store = dashboard.read()
    record = store.get_bin(bin_id)
    if record is None:
        return dashboard.render(
            "error.html.j2",
            404,
            title="No such bin",
            message=f"The bridge knows no bin {bin_id!r}.",
            principal=principal,
            csrf=session.csrf,
        )
    now = dashboard.clock()
    return dashboard.render(
        "bin.html.j2",
        principal=principal,
        csrf=session.csrf,
        bin=bin_detail(
            store,
            record,
            now,
            pickups=allowed(principal, "pickups:read"),
            tickets=allowed(principal, "tickets:read"),
            config=allowed(principal, "config:read"),
        ),
        chart=fill_chart(bin_history(store, record, now)),
    )
