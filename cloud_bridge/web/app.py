"""The dashboard's routes, mounted on the API's FastAPI app (the API stays under /v1).

``/login`` takes an API token in a POSTed form (never in a URL) and answers a signed
session cookie (:mod:`cloud_bridge.web.session`): HttpOnly, SameSite=Strict, Secure
over TLS, expiring after ``web.session_ttl_s``. Every POST must come from this origin
and carry the session's CSRF token. Pages ask :mod:`cloud_bridge.domain.access` (the
API's permission table) what the signed-in role may see. ``/docs`` is Swagger UI from
the vendored files under ``static/vendor/`` (nothing is fetched from a CDN).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cloud_bridge.clock import Clock, system_clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.access import Principal, TokenTable, allowed, digest_of
from cloud_bridge.store.protocols import Store
from cloud_bridge.views.fleet import fleet_overview
from cloud_bridge.web.actions import WebActions
from cloud_bridge.web.context import (
    Dashboard,
    _dashboard,
    _form,
    _refused,
    _same_origin,
    _viewer,
)
from cloud_bridge.web.headers import SecurityHeaders
from cloud_bridge.web.pages import routers
from cloud_bridge.web.session import COOKIE, Session, SessionSigner, session_key

logger = logging.getLogger(__name__)


SWAGGER = "/static/vendor/swagger-ui-5.32.6"
"""Where the vendored Swagger UI is served."""

Mounter = Callable[[FastAPI, Callable[[], Store], TokenTable], None]
"""What the API's server calls to add the dashboard to its app: the app, this thread's
reader, the API's token table."""


router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login_page(request: Request) -> Response:
    """The sign-in form, with the CSRF token of a fresh anonymous session."""
    dashboard = _dashboard(request)
    session = dashboard.session(request)
    if dashboard.principal(session) is not None:
        return RedirectResponse("/", status_code=303)
    if session is None:
        session = Session.anonymous(dashboard.wall(), dashboard.ttl)
    response = dashboard.render("login.html.j2", csrf=session.csrf, error=None, principal=None)
    dashboard.set_cookie(request, response, session)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the token from the form; on success a new signed-in session."""
    dashboard = _dashboard(request)
    session = dashboard.session(request)
    form = await _form(request)
    if not _same_origin(request) or session is None or form is None:
        return _refused(dashboard, "The sign-in did not come from this dashboard's form.")
    if not session.csrf_matches(form.get("csrf")):
        return _refused(dashboard, "The sign-in form has expired: load it again.")
    token = form.get("token", "").strip()
    principal = dashboard.tokens.lookup(token) if token else None
    if principal is None:
        logger.warning("dashboard: a sign-in with an unknown token was refused")
        return dashboard.render(
            "login.html.j2", 401, csrf=session.csrf, error="Unknown token.", principal=None
        )
    logger.info("dashboard: %s (%s) signed in", principal.name, principal.role)
    response = RedirectResponse("/", status_code=303)
    dashboard.set_cookie(
        request, response, Session.signed_in(digest_of(token), dashboard.wall(), dashboard.ttl)
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (the cookie is replaced by an expired one)."""
    dashboard = _dashboard(request)
    session = dashboard.session(request)
    form = await _form(request)
    if not _same_origin(request) or session is None or form is None:
        return _refused(dashboard, "The sign-out did not come from this dashboard.")
    if not session.csrf_matches(form.get("csrf")):
        return _refused(dashboard, "The sign-out form has expired: load the page again.")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _overview(dashboard: Dashboard, principal: Principal) -> dict[str, Any]:
    return fleet_overview(
        dashboard.read(),
        dashboard.clock(),
        pickups_shown=allowed(principal, "pickups:read"),
        tickets=allowed(principal, "tickets:read"),
    )


@router.get("/")
def fleet_page(request: Request) -> Response:
    """The fleet: headline counts, the map and the table of bins."""
    seen = _viewer(request, "bins:read")
    if isinstance(seen, Response):
        return seen
    dashboard, session, principal = seen
    return dashboard.render(
        "fleet.html.j2",
        principal=principal,
        csrf=session.csrf,
        fleet=_overview(dashboard, principal),
        tile_url=dashboard.settings.tile_url or "",
        tile_attribution=dashboard.settings.tile_attribution,
    )


@router.get("/web/fleet.json")
def fleet_json(request: Request) -> Response:
    """The fleet page's data for its script (401 without a session: no redirect)."""
    seen = _viewer(request, "bins:read")
    if isinstance(seen, RedirectResponse):
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    if isinstance(seen, Response):
        return JSONResponse({"detail": "forbidden"}, status_code=403)
    dashboard, _, principal = seen
    return JSONResponse(_overview(dashboard, principal), headers={"Cache-Control": "no-store"})


@router.get("/docs")
async def docs(request: Request) -> Response:
    """Swagger UI on the vendored files (the OpenAPI page works offline)."""
    return _dashboard(request).render("docs.html.j2", swagger=SWAGGER)


def mount_dashboard(
    app: FastAPI,
    read: Callable[[], Store],
    tokens: TokenTable,
    *,
    settings: BridgeSettings,
    clock: Clock,
    key: bytes,
    wall: Clock = system_clock,
    actions: WebActions | None = None,
) -> None:
    """Add the dashboard, ``/docs`` and ``/static`` to ``app`` (before it serves)."""

    web = settings.web
    app.state.dashboard = Dashboard(
        web, tokens, read, clock, SessionSigner(key), wall, actions, settings.facilities
    )
    app.mount("/static", StaticFiles(directory=str(files("cloud_bridge.web") / "static")))
    if web.enabled:
        app.include_router(router)
        for pages in routers():
            app.include_router(pages)
    else:
        app.add_api_route("/docs", docs, include_in_schema=False)
    app.add_middleware(SecurityHeaders, tile_url=web.tile_url)


def dashboard_mounter(
    settings: BridgeSettings,
    clock: Clock,
    environ: Mapping[str, str],
    actions: WebActions | None = None,
) -> Mounter:
    """What :func:`cloud_bridge.api.server.serve_api` calls to add the dashboard; reads
    the session key now, so a bad key fails the start. ``actions`` (the engine's
    writer) lets the board's forms and the pages that record hand their changes to
    the bridge."""
    key = session_key(settings.web.session_key_env, environ)

    def mount(app: FastAPI, read: Callable[[], Store], tokens: TokenTable) -> None:
        mount_dashboard(app, read, tokens, settings=settings, clock=clock, key=key, actions=actions)

    return mount


__all__ = ["Dashboard", "Mounter", "dashboard_mounter", "mount_dashboard"]
