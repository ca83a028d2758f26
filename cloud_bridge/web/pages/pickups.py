"""The pickup board (``/pickups``): open pickups in columns, and the schedulers'
actions on them (acknowledge, schedule, cancel) as CSRF-checked forms.

Reading needs ``pickups:read``, acting ``pickups:act``: the permission table the API
enforces (:mod:`cloud_bridge.domain.access`). Actions go through the same service
methods as ``/v1/pickups/{id}/...``, on the bridge's single writer, so the board and
the API refuse the same things (a time in the past, a time after ``due_by`` without
"confirm") with the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud_bridge.domain.access import Principal, allowed
from cloud_bridge.domain.records import PickupRecord
from cloud_bridge.errors import ActionError, Unavailable
from cloud_bridge.services.pickups import PickupService
from cloud_bridge.views.pickup_board import COLUMNS, pickup_board
from cloud_bridge.web.context import Dashboard, _form, _refused, _same_origin, _viewer
from cloud_bridge.web.session import Session

router = APIRouter(include_in_schema=False)

DONE = {
    "acknowledged": "Pickup {} acknowledged.",
    "scheduled": "Pickup {} scheduled.",
    "cancelled": "Pickup {} cancelled.",
}
"""What the board says after an action (the redirect names the action, not the text)."""


def _render(
    dashboard: Dashboard,
    session: Session,
    principal: Principal,
    *,
    status: int = 200,
    message: str | None = None,
    error: str | None = None,
) -> Response:
    return dashboard.render(
        "pickups.html.j2",
        status,
        principal=principal,
        csrf=session.csrf,
        columns=COLUMNS,
        board=pickup_board(dashboard.read()),
        may_act=allowed(principal, "pickups:act"),
        now=dashboard.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M"),
        message=message,
        error=error,
    )


@router.get("/pickups")
def board_page(request: Request, done: str | None = None, pickup: str | None = None) -> Response:
    """The board: requested, scheduled and escalated pickups, most urgent first."""
    seen = _viewer(request, "pickups:read")
    if isinstance(seen, Response):
        return seen
    dashboard, session, principal = seen
    message = DONE[done].format(pickup or "") if done in DONE else None
    return _render(dashboard, session, principal, message=message)


def _when(value: str) -> datetime:
    """The datetime-local input's value, read as UTC (the form says so)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _BadInput("Give the collection time as a date and time (UTC).") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class _BadInput(Exception):
    """A form field the page cannot read (answered 422 with the message)."""


@router.post("/pickups/{pickup_id}/{action}")
async def act(request: Request, pickup_id: str, action: str) -> Response:
    """Acknowledge, schedule or cancel a pickup from the board's forms.

    A POST without a session goes to the sign-in; one from another origin, without the
    session's CSRF token, or from a role without ``pickups:act`` is refused with 403
    before anything is read or changed."""
    if action not in {"acknowledge", "schedule", "cancel"}:
        return Response(status_code=404)
    seen = _viewer(request, "pickups:read")
    if isinstance(seen, Response):
        return seen
    dashboard, session, principal = seen
    form = await _form(request)
    if not _same_origin(request) or form is None or not session.csrf_matches(form.get("csrf")):
        return _refused(dashboard, "The action did not come from this dashboard's form.")
    if not allowed(principal, "pickups:act"):
        return _refused(dashboard, f"The role {principal.role} may not act on pickups.")
    if dashboard.actions is None:
        return _render(
            dashboard, session, principal, status=503, error="The bridge takes no actions here."
        )
    actions = dashboard.actions
    try:
        run = _action(action, pickup_id, form, principal.name)
        await run_in_threadpool(actions.pickups, run)
    except _BadInput as err:
        return _render(dashboard, session, principal, status=422, error=str(err))
    except ActionError as err:
        return _render(dashboard, session, principal, status=err.status, error=str(err))
    except Unavailable as err:
        return _render(dashboard, session, principal, status=503, error=str(err))
    done = {"acknowledge": "acknowledged", "schedule": "scheduled", "cancel": "cancelled"}
    return RedirectResponse(f"/pickups?done={done[action]}&pickup={pickup_id}", status_code=303)


Action = Callable[[PickupService], PickupRecord]
"""A scheduler's action as the bridge's writer runs it."""


def _action(action: str, pickup_id: str, form: dict[str, str], actor: str) -> Action:
    """The service call the form asks for (its fields read and checked first)."""
    if action == "acknowledge":
        return lambda service: service.acknowledge(pickup_id, actor)
    if action == "cancel":
        reason = form.get("reason", "").strip()
        if not reason or len(reason) > 500:
            raise _BadInput("Give a reason for cancelling (at most 500 characters).")
        return lambda service: service.cancel(pickup_id, reason, actor)
    when = _when(form.get("scheduled_for", ""))
    note = form.get("note", "").strip() or None
    if note is not None and len(note) > 500:
        raise _BadInput("The note is at most 500 characters.")
    confirm = form.get("confirm") == "yes"
    return lambda service: service.schedule(pickup_id, when, actor, note, confirm=confirm)
