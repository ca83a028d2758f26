"""API tokens per role: 401 without a valid token, 403 for a role that may not.

Tokens are compared by their SHA-256 (the settings hold only hashes, or the names of
environment variables holding tokens), in constant time. Every permission lists the
roles that hold it; routers declare what they need with :func:`require`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloud_bridge.config.api import ApiSettings, Role

PERMISSIONS: dict[str, frozenset[Role]] = {
    "bins:read": frozenset({"scheduler", "technician", "admin", "facility"}),
    "deposits:read": frozenset({"scheduler", "technician", "admin", "facility"}),
    "pickups:read": frozenset({"scheduler", "admin", "facility"}),
    "pickups:act": frozenset({"scheduler", "admin"}),
    "routes:read": frozenset({"scheduler", "admin"}),
    "webhooks:read": frozenset({"scheduler", "admin"}),
    "webhooks:act": frozenset({"admin"}),
    "tickets:read": frozenset({"technician", "admin"}),
    "commands:read": frozenset({"technician", "admin"}),
    "commands:send": frozenset({"technician", "admin"}),
    "config:read": frozenset({"technician", "admin"}),
    "config:push": frozenset({"technician", "admin"}),
    "facility:read": frozenset({"facility", "scheduler", "admin"}),
    "facility:act": frozenset({"facility", "admin"}),
    "reports:read": frozenset({"facility", "scheduler", "admin"}),
}
"""What each role may do. Technicians see bins, deposits and tickets, send commands and
push configuration, and never act on pickups; schedulers do the opposite. Facility
operators see bins, deposits and the pickups coming their way, record intakes,
dispositions and stock movements (for their own facilities, when their token names
them) and read the impact report; they see no tickets, commands or configuration."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: the token's name and role."""

    name: str
    role: Role
    facilities: frozenset[str] | None = None
    """The facilities a facility token acts for (None: every one)."""

    def may_act_for(self, facility_id: str) -> bool:
        """Whether this caller may record at ``facility_id``."""
        return self.facilities is None or facility_id in self.facilities


class TokenTable:
    """Known token digests and whom they belong to."""

    def __init__(self, digests: Mapping[str, Principal]) -> None:
        self._digests = dict(digests)

    @classmethod
    def from_settings(
        cls, settings: ApiSettings, environ: Mapping[str, str] | None = None
    ) -> TokenTable:
        """Read every token's digest (from the environment where the settings say so)."""
        return cls(
            {
                token.digest(environ): Principal(
                    token.name,
                    token.role,
                    None if token.facilities is None else frozenset(token.facilities),
                )
                for token in settings.tokens
            }
        )

    def __len__(self) -> int:
        return len(self._digests)

    def lookup(self, token: str) -> Principal | None:
        """The holder of ``token``, comparing digests in constant time."""
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        found: Principal | None = None
        for known, principal in self._digests.items():
            if hmac.compare_digest(known, digest):
                found = principal
        return found


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
