"""API tokens per role: 401 without a valid token, 403 for a role that may not.

The permission table and the token table live in :mod:`cloud_bridge.domain.access`,
shared with the dashboard; routers declare what they need with :func:`require`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloud_bridge.domain.access import PERMISSIONS, Principal, TokenTable

__all__ = ["GUARDS", "PERMISSIONS", "Principal", "TokenTable", "require"]

_bearer = HTTPBearer(auto_error=False, description="An API token: Authorization: Bearer TOKEN")

GUARDS: dict[Callable[..., Awaitable[Principal]], str] = {}
"""Every dependency :func:`require` made, and the permission it admits: lets a test
find the permission of each route (and a route that has none)."""


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only holders of ``permission``.

    Asynchronous (it only hashes and compares), so it runs on the event loop rather
    than costing a thread hop per request.
    """
    roles = PERMISSIONS[permission]

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                status_code=401,
                detail="missing bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        tokens: TokenTable = request.app.state.context.tokens
        principal = tokens.lookup(credentials.credentials)
        if principal is None:
            raise HTTPException(
                status_code=401,
                detail="invalid token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if principal.role not in roles:
            raise HTTPException(
                status_code=403, detail=f"role {principal.role!r} may not {permission}"
            )
        return principal

    GUARDS[check] = permission
    return check
