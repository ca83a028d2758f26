"""The error responses the OpenAPI document lists, so integrators know what to handle.

The bodies are written elsewhere: by :func:`cloud_bridge.api.auth.require` (401, 403),
by the routers (404, 409, 422, 429), by the exception handlers of :mod:`cloud_bridge.api.app`
for what the services and the writer raise (404, 409, 422, 503) and by FastAPI's own
validation (422). This module only describes them. Routers attach ``errors(...)`` with
``responses=``: on the router for what every route of it can return, on a route for
what only that route can, and no more, so each route lists exactly the errors it may
answer with. ``tests/test_api.py`` checks the lists, and that real error bodies conform
to the schema listed for their status.
"""

from __future__ import annotations

from typing import Any

from cloud_bridge.api.schemas import ErrorMessage, ValidationErrors

Responses = dict[int | str, dict[str, Any]]
"""FastAPI's ``responses=``: status to what the OpenAPI document says of it."""

_ERRORS: dict[int, dict[str, Any]] = {
    401: {
        "model": ErrorMessage,
        "description": "No bearer token (or another scheme), or one the bridge does not "
        "know: detail is 'missing bearer token' or 'invalid token'.",
        "headers": {
            "WWW-Authenticate": {
                "description": 'Bearer; for an unknown token, Bearer error="invalid_token".',
                "schema": {"type": "string"},
            }
        },
    },
    403: {
        "model": ErrorMessage,
        "description": "The token's role lacks the route's permission: detail names both "
        "(\"role 'technician' may not pickups:read\").",
    },
    404: {
        "model": ErrorMessage,
        "description": "What the request names does not exist: the bin, pickup, ticket, "
        "command, delivery or pushed configuration of the path, or for a push the bin or "
        "region of the body. detail says which.",
    },
    409: {
        "model": ErrorMessage,
        "description": "The action does not fit the current state (a pickup that is no "
        "longer open, a delivery that is not dead): detail says why.",
    },
    422: {
        "model": ValidationErrors,
        "description": "Bad input: each problem names its field in loc (path, query or body).",
    },
    429: {
        "model": ErrorMessage,
        "description": "The token already holds api.max_waits_per_token long polls (wait > 0) "
        "at once: detail says how many. Ask without wait, or again when one has returned.",
    },
    503: {
        "model": ErrorMessage,
        "description": "The bridge is not running, or its writer did not answer within "
        "api.action_timeout_s. 'nothing was done': the action was withdrawn, safe to retry; "
        "'the action has started and may still complete': read the state before trying "
        "again.",
    },
}


def errors(*statuses: int) -> Responses:
    """The documented error responses for ``statuses`` (each a fresh copy to merge)."""
    return {status: dict(_ERRORS[status]) for status in statuses}
