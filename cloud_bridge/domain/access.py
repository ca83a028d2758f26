"""Who may do what: the one permission table shared by the REST API and the dashboard.

Tokens are compared by their SHA-256 (the settings hold only hashes, or the names of
environment variables holding tokens), in constant time. Every permission lists the
roles that hold it; the API's routes declare theirs with
:func:`cloud_bridge.api.auth.require`, the dashboard's pages with its own guard, both
reading this table, so a role sees and does the same through either door.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

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
        return self.lookup_digest(digest_of(token))

    def lookup_digest(self, digest: str) -> Principal | None:
        """The holder of the token whose SHA-256 is ``digest`` (a dashboard session
        keeps only the digest, so a token removed from the settings ends its sessions)."""
        found: Principal | None = None
        for known, principal in self._digests.items():
            if hmac.compare_digest(known, digest):
                found = principal
        return found


def digest_of(token: str) -> str:
    """The hex SHA-256 of ``token``, as the settings and the token table hold it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def allowed(principal: Principal, permission: str) -> bool:
    """Whether ``principal``'s role holds ``permission``."""
    return principal.role in PERMISSIONS[permission]
