"""What the dashboard's handlers share: the :class:`Dashboard` state on the app, the
templates, and the guards every page runs (who is signed in and may what, same origin,
the form of a POST, a refusal page).

It sits below :mod:`cloud_bridge.web.app` and the page modules (:mod:`cloud_bridge.web.pages`),
so the pages import their guards from here and the app imports the pages, never the
other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from cloud_bridge.clock import Clock, system_clock
from cloud_bridge.config.facilities import FacilitySettings
from cloud_bridge.config.web import WebSettings
from cloud_bridge.domain.access import Principal, TokenTable, allowed
from cloud_bridge.store.protocols import Store
from cloud_bridge.web.actions import WebActions
from cloud_bridge.web.session import COOKIE, Session, SessionSigner

MAX_FORM_BYTES = 4096
"""The largest sign-in or sign-out form read (a token is far shorter)."""

_templates = Environment(
    loader=PackageLoader("cloud_bridge.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
_templates.globals["may"] = allowed  # the pages' links follow the permission table


@dataclass
class Dashboard:
    """What the dashboard's handlers share."""

    settings: WebSettings
    tokens: TokenTable
    read: Callable[[], Store]
    clock: Clock
    signer: SessionSigner
    wall: Clock = system_clock
    """Sessions expire on the wall clock even when the bridge runs on simulated time."""
    actions: WebActions | None = None
    """The bridge's writer, for the pages that act or record (None: the pages only read)."""
    facilities: FacilitySettings = field(default_factory=FacilitySettings)
    """The receiving facilities, their tolerances and emission factors (facility pages)."""

    @property
    def ttl(self) -> timedelta:
        """How long a session lasts."""
        return timedelta(seconds=self.settings.session_ttl_s)

    def session(self, request: Request) -> Session | None:
        """The request's valid session, if any."""
        return self.signer.load(request.cookies.get(COOKIE), self.wall())

    def principal(self, session: Session | None) -> Principal | None:
        """Who is signed in on ``session`` (None: nobody, or a token since removed)."""
        if session is None or session.digest is None:
            return None
        return self.tokens.lookup_digest(session.digest)

    def set_cookie(self, request: Request, response: Response, session: Session) -> None:
        """Send ``session`` as the session cookie."""
        secure = self.settings.secure_cookies or request.url.scheme == "https"
        response.set_cookie(
            COOKIE,
            self.signer.dump(session),
            max_age=max(1, int((session.expires - self.wall()).total_seconds())),
            path="/",
            httponly=True,
            samesite="strict",
            secure=secure,
        )

    def render(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        """A page from ``templates/`` (autoescaped: every value is text, never markup)."""
        html = _templates.get_template(name).render(**values)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _dashboard(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


def _same_origin(request: Request) -> bool:
    """Whether a POST comes from a page of this origin (Origin, else Referer, must match;
    a browser sends one of them with every form POST)."""
    own = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("referer")
    return referer is not None and (referer == own or referer.startswith(own + "/"))


async def _form(request: Request) -> dict[str, str] | None:
    """The URL-encoded form of a POST (None when it is too large or not a form)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return None
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return None
    return {key: values[0] for key, values in fields.items()}


def _refused(dashboard: Dashboard, why: str) -> HTMLResponse:
    return dashboard.render("error.html.j2", 403, title="Refused", message=why, principal=None)


def _viewer(request: Request, permission: str) -> tuple[Dashboard, Session, Principal] | Response:
    """The signed-in caller who holds ``permission``, or the response that says why not
    (a redirect to the sign-in, or a 403)."""
    dashboard = _dashboard(request)
    session = dashboard.session(request)
    principal = dashboard.principal(session)
    if session is None or principal is None:
        return RedirectResponse("/login", status_code=303)
    if not allowed(principal, permission):
        return _refused(dashboard, f"The role {principal.role} may not {permission}.")
    return dashboard, session, principal
