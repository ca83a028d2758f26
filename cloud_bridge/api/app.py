"""The FastAPI application: routers per resource, auth, errors as JSON, OpenAPI served.

``/openapi.json`` describes the API and needs no token (it holds no data);
``/healthz`` answers without one too. ``/docs`` (Swagger UI on vendored files) is
added with the dashboard by :mod:`cloud_bridge.web`, since FastAPI's own loads its
scripts from a CDN. Everything under ``/v1`` needs a token
whose role holds the route's permission (see :mod:`cloud_bridge.api.auth`).
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cloud_bridge.api.context import ApiContext
from cloud_bridge.api.openapi import state_settings_limits
from cloud_bridge.api.routers import (
    bins,
    commands,
    config,
    deposits,
    exports,
    facilities,
    intakes,
    pickups,
    reports,
    routes,
    tickets,
    trace,
    webhooks,
)
from cloud_bridge.errors import ActionError, InvalidAction, Unavailable
from cloud_bridge.services.remote_config import InvalidConfig

ROUTERS = (bins.router, pickups.router, deposits.router, routes.router, webhooks.router,
           exports.router, tickets.router, commands.router, config.router,
           facilities.router, intakes.router, trace.router, reports.router)  # fmt: skip
"""Every resource's router; a new resource adds its own here."""


def _json_safe(value: Any) -> Any:
    """``value`` with infinities and NaN as strings (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def create_app(context: ApiContext) -> FastAPI:
    """The API over ``context``."""
    app = FastAPI(
        title="Revloop bridge API",
        version="1",
        description="Bins, fill forecasts, pickups and their manifests, deposits, routes, "
        "webhook deliveries, CSV exports, and for technicians tickets, remote commands and "
        "remote configuration. Authenticate with `Authorization: Bearer TOKEN`.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    for router in ROUTERS:
        app.include_router(router)
    state_settings_limits(app, context.settings)

    @app.get("/healthz", tags=["health"], summary="Liveness (no token needed)")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(RequestValidationError)
    def unprocessable(request: Request, err: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422, except that a rejected 1e400 or NaN cannot break the reply
        detail = _json_safe(jsonable_encoder(err.errors()))
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(InvalidAction)
    def invalid(request: Request, err: InvalidAction) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "detail": [
                    {"loc": ["body", err.field or "body"], "msg": str(err), "type": "value_error"}
                ]
            },
        )

    @app.exception_handler(InvalidConfig)
    def invalid_config(request: Request, err: InvalidConfig) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "detail": [
                    {
                        "loc": ["body", "config", *issue.path.split(".")],
                        "msg": issue.message,
                        "type": "value_error",
                    }
                    for issue in err.issues
                ]
            },
        )

    @app.exception_handler(ActionError)
    def refused(request: Request, err: ActionError) -> JSONResponse:
        return JSONResponse(status_code=err.status, content={"detail": str(err)})

    @app.exception_handler(Unavailable)
    def unavailable(request: Request, err: Unavailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(err)})

    return app
