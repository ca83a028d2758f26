"""The facility pages: the intakes list with stock and contamination (``/facility``),
the intake form (``/facility/intakes/new``) and one intake with its reconciliation and
trace (``/facility/intakes/{id}``).

The form records through the same :class:`~cloud_bridge.services.facility.FacilityService`
call as ``POST /v1/intakes``, on the bridge's writer, so the checks are the API's: a bad
value comes back as the form again with the service's message naming the field, and
nothing is stored. The form's own parsing (a number that is not one) names the field
the same way. Every POST needs this origin and the session's CSRF token, and the role's
``facility:act`` (checked on the server whatever the page showed).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cloud_bridge.config.facilities import MATERIALS, FacilitySite
from cloud_bridge.domain.access import Principal, allowed
from cloud_bridge.domain.facility import DRIFT_KIND, IntakeLine
from cloud_bridge.errors import ActionError, Unavailable
from cloud_bridge.services.facility import IntakeRequest, PickupPart
from cloud_bridge.store.protocols import Store
from cloud_bridge.views.facility import contamination_rows, intake_rows, lot_trace, stock_row
from cloud_bridge.web.context import Dashboard, _refused, _same_origin, _viewer

logger = logging.getLogger(__name__)

MAX_INTAKE_FORM_BYTES = 65536
"""The largest intake form read (hundreds of pickups with their shares fit)."""
RECENT_INTAKES = 30
"""How many intakes the facility page lists."""
PICKUPS_OFFERED = 200
"""How many collected pickups, newest first, the form offers."""
MOST_KG, MOST_ITEMS, MOST_KM, MOST_NOTE = 1e9, 10**9, 100_000.0, 500
"""The bounds ``POST /v1/intakes``'s body states (its schema; the service checks the rest)."""

router = APIRouter(include_in_schema=False)


class FormError(ValueError):
    """A form value that is not what the field needs; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class IntakeForm:
    """The intake form's values as typed, kept to show them again after an error."""

    facility_id: str = ""
    pickups: list[str] = field(default_factory=list)
    shares: dict[str, str] = field(default_factory=dict)
    kg: dict[str, str] = field(default_factory=dict)
    counts: dict[str, str] = field(default_factory=dict)
    contaminated: dict[str, str] = field(default_factory=dict)
    distance_km: str = ""
    note: str = ""

    @classmethod
    def parse(cls, fields: dict[str, list[str]]) -> IntakeForm:
        """The values of a POSTed form (unknown fields are ignored)."""

        def one(name: str) -> str:
            return fields.get(name, [""])[0].strip()

        form = cls(facility_id=one("facility_id"), distance_km=one("distance_km"))
        form.note = one("note")
        form.pickups = [p.strip() for p in fields.get("pickup", []) if p.strip()]
        form.shares = {p: one(f"share-{p}") for p in form.pickups}
        for category in MATERIALS:
            form.kg[category] = one(f"kg-{category}")
            form.counts[category] = one(f"count-{category}")
            form.contaminated[category] = one(f"contaminated-{category}")
        return form

    def request(self) -> IntakeRequest:
        """The service's request; :class:`FormError` names a field that is not a number."""
        lines = []
        for category in MATERIALS:
            kg_text = self.kg.get(category, "")
            extra = self.counts.get(category, "") or self.contaminated.get(category, "")
            if not kg_text:
                if extra:
                    raise FormError(f"{category}: a count or contamination needs its kg", "kg")
                continue
            kg = _number(kg_text, f"{category} kg", "kg")
            bad_text = self.contaminated.get(category, "")
            bad = 0.0
            if bad_text:
                bad = _number(bad_text, f"{category} contaminated kg", "contaminated_kg")
            count_text = self.counts.get(category, "")
            count = _count(count_text, f"{category} count") if count_text else None
            lines.append(IntakeLine(category, kg, count, bad))
        parts = []
        for pickup_id in self.pickups:
            share_text = self.shares.get(pickup_id, "")
            share = _number(share_text, f"share of {pickup_id}", "share") if share_text else None
            parts.append(PickupPart(pickup_id, share))
        distance = (
            _number(self.distance_km, "distance_km", "distance_km", MOST_KM)
            if self.distance_km
            else None
        )
        if len(self.note) > MOST_NOTE:
            raise FormError(f"note: at most {MOST_NOTE} characters", "note")
        return IntakeRequest(
            facility_id=self.facility_id,
            pickups=parts,
            lines=lines,
            distance_km=distance,
            note=self.note or None,
        )


def _number(text: str, label: str, name: str, most: float = MOST_KG) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FormError(f"{label}: {text!r} is not a number", name) from None
    if not math.isfinite(value):
        raise FormError(f"{label}: {text!r} is not a finite number", name)
    if value > most:
        raise FormError(f"{label}: at most {most:g}", name)
    return value


def _count(text: str, label: str) -> int:
    if not text.isdigit() or int(text) > MOST_ITEMS:
        raise FormError(f"{label}: {text!r} is not a whole number of items", "count")
    return int(text)


async def _fields(request: Request) -> dict[str, list[str]] | None:
    """A URL-encoded POST's fields, every value of each (None: too large, not a form)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    if len(body) > MAX_INTAKE_FORM_BYTES:
        return None
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None


def _sites(dashboard: Dashboard, principal: Principal) -> list[FacilitySite]:
    """The facilities ``principal`` may record for."""
    sites = dashboard.facilities.sites
    return [site for site in sites if principal.may_act_for(site.id)]


def _offered(store: Store) -> list[dict[str, Any]]:
    """Collected pickups with something left to receive, newest first."""
    pickups = store.collected_pickups()
    received = store.received_shares([p.pickup_id for p in pickups])
    rows = []
    for pickup in sorted(pickups, key=lambda p: (p.closed_at is None, p.closed_at), reverse=True):
        left = 1.0 - received.get(pickup.pickup_id, 0.0)
        if left <= 1e-6:
            continue
        rows.append(
            {
                "pickup_id": pickup.pickup_id,
                "bin_id": pickup.bin_id,
                "region": pickup.region,
                "left": round(left, 3),
                "kg": round(sum(entry.kg for entry in pickup.manifest.values()), 1),
            }
        )
    return rows[:PICKUPS_OFFERED]


def _form_page(
    dashboard: Dashboard,
    principal: Principal,
    csrf: str,
    form: IntakeForm,
    *,
    status: int = 200,
    error: str | None = None,
    error_field: str | None = None,
) -> Response:
    return dashboard.render(
        "intake_form.html.j2",
        status,
        principal=principal,
        csrf=csrf,
        sites=_sites(dashboard, principal),
        pickups=_offered(dashboard.read()),
        materials=MATERIALS,
        form=form,
        error=error,
        error_field=error_field,
    )


@router.get("/facility/intakes/new")
def intake_form(request: Request) -> Response:
    """The form a facility operator fills in when a load arrives."""
    seen = _viewer(request, "facility:act")
    if isinstance(seen, Response):
        return seen
    dashboard, session, principal = seen
    return _form_page(dashboard, principal, session.csrf, IntakeForm())


@router.post("/facility/intakes/new")
async def record_intake(request: Request) -> Response:
    """Record the load through the facility service, then show its reconciliation (the
    body is read here; the recording waits for the writer on a worker thread, never on
    the event loop)."""
    seen = _viewer(request, "facility:act")
    if isinstance(seen, Response):
        return seen
    dashboard, session, principal = seen
    fields = await _fields(request)
    csrf = (fields or {}).get("csrf", [""])[0]
    if not _same_origin(request) or fields is None or not session.csrf_matches(csrf):
        return _refused(dashboard, "The intake did not come from this dashboard's form.")
    form = IntakeForm.parse(fields)
    if form.facility_id and not principal.may_act_for(form.facility_id):
        return _refused(dashboard, f"This token does not act for facility {form.facility_id}.")
    return await run_in_threadpool(_record, dashboard, session.csrf, principal, form)


def _record(dashboard: Dashboard, csrf: str, principal: Principal, form: IntakeForm) -> Response:
    """Hand the load to the bridge's writer; the form again, saying why, if refused."""
    if dashboard.actions is None:
        return _form_page(
            dashboard, principal, csrf, form, status=503,
            error="This dashboard only reads: the bridge is not running here.",
        )  # fmt: skip
    try:
        intake_request = form.request()
        intake = dashboard.actions.facility(
            lambda service: service.record_intake(
                intake_request, principal.name, principal.facilities
            )
        )
    except FormError as err:
        return _form_page(
            dashboard, principal, csrf, form, status=422, error=str(err), error_field=err.field
        )
    except ActionError as err:
        if err.status == 403:
            return _refused(dashboard, str(err))
        return _form_page(
            dashboard, principal, csrf, form, status=err.status,
            error=f"{err.field}: {err}" if err.field else str(err), error_field=err.field,
        )  # fmt: skip
    except Unavailable as err:
        return _form_page(dashboard, principal, csrf, form, status=503, error=str(err))
    logger.info("dashboard: %s recorded intake %s", principal.name, intake.intake_id)
    return RedirectResponse(f"/facility/intakes/{intake.intake_id}?recorded=1", status_code=303)


IntakeId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


@router.get("/facility/intakes/{intake_id}")
def intake_page(request: Request, intake_id: IntakeId) -> Response:
    """One load: per category received against declared, flagged beyond tolerance; the
    bins that fed it (the lot's trace) and the decisions on it."""
    seen = _viewer(request, "facility:read")
    if isinstance(seen, Response):
        return seen
    dashboard, session, principal = seen
    store = dashboard.read()
    intake = store.get_intake(intake_id)
    if intake is None:
        return dashboard.render(
            "error.html.j2", 404, title="Not found", message=f"No intake {intake_id}.",
            principal=principal, csrf=session.csrf,
        )  # fmt: skip
    settings = dashboard.facilities
    return dashboard.render(
        "intake.html.j2",
        principal=principal,
        csrf=session.csrf,
        intake=intake_rows(store, [intake], settings)[0],
        trace=lot_trace(store, intake),
        recorded=request.query_params.get("recorded") == "1",
        tolerance=(settings.tolerance_pct, settings.tolerance_kg),
        may_act=allowed(principal, "facility:act"),
    )


@router.get("/facility")
def facility_page(request: Request) -> Response:
    """Recent intakes with their flags, stock per facility and category, and the bins by
    contamination rate (those above the threshold, which opens a drift ticket, first)."""
    seen = _viewer(request, "facility:read")
    if isinstance(seen, Response):
        return seen
    dashboard, session, principal = seen
    store = dashboard.read()
    settings = dashboard.facilities
    intakes = store.list_intakes(newest_first=True, limit=RECENT_INTAKES)
    drift: set[str] = set()
    if allowed(principal, "tickets:read"):
        drift = {t.bin_id for t in store.list_tickets(open_only=True, kind=DRIFT_KIND)}
    return dashboard.render(
        "facility.html.j2",
        principal=principal,
        csrf=session.csrf,
        intakes=intake_rows(store, intakes, settings),
        sites={site.id: site.name for site in settings.sites},
        stock=[stock_row(level) for level in store.stock()],
        bins=contamination_rows(store, settings, [b.bin_id for b in store.load_bins()]),
        drift=drift,
        threshold=settings.contamination_threshold_pct,
        window=settings.contamination_intakes,
        may_act=allowed(principal, "facility:act"),
    )


__all__ = ["FormError", "IntakeForm", "router"]
