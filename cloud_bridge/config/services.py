"""Settings of the bridge's services: forecasts, timers, webhooks, the API and routing.

Like the core settings, every section forbids unknown keys and bounds every number.
Secrets never live in the file: a webhook secret is read from the environment
variable its endpoint names; an API token is given as the SHA-256 of the token, or
as the name of an environment variable that holds it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic import model_validator as _model_validator

from cloud_bridge.errors import SettingsError

_REGION = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_BIN_ID = r"^[a-z0-9][a-z0-9-]{2,62}$"

MessageKind = Literal["pickup", "ticket"]
MESSAGE_KINDS: tuple[MessageKind, ...] = ("pickup", "ticket")
"""What fleet messages a webhook endpoint may receive."""

Role = Literal["scheduler", "technician", "admin"]
ROLES: tuple[Role, ...] = ("scheduler", "technician", "admin")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ForecastSettings(_Section):
    """How often fill forecasts are made and when a bin's rhythm is learned."""

    interval_s: float = Field(
        default=900.0,
        ge=0.0,
        le=86_400.0,
        description="Least bridge time between two forecasts of one bin (each new reading "
        "marks the bin for the next tick).",
    )
    history_days: float = Field(
        default=30.0,
        ge=1.0,
        le=365.0,
        description="A forecast reads the readings since the bin's last emptying, but none "
        "older than this (a bin never seen emptied would otherwise be read from its first "
        "reading at every forecast).",
    )
    profile_refresh_hours: float = Field(
        default=6.0,
        gt=0.0,
        le=24.0 * 7,
        description="How often a bin's deposit rhythm is relearned.",
    )
    profile_window_days: float = Field(
        default=28.0, ge=1.0, le=365.0, description="Deposits of this many days make the rhythm."
    )
    profile_min_events: int = Field(
        default=50, ge=1, le=1_000_000, description="Deposits needed before a rhythm is used."
    )
    daily_after_days: float = Field(
        default=2.0, ge=0.5, le=365.0, description="History needed for the daily rhythm."
    )
    weekly_after_days: float = Field(
        default=14.0, ge=1.0, le=365.0, description="History needed for the weekly rhythm."
    )


class TimerSettings(_Section):
    """The periodic tick of the writer thread, on the bridge's clock."""

    tick_s: float = Field(
        default=60.0,
        gt=0.0,
        le=3600.0,
        description="Bridge-clock seconds between policy ticks (escalation, forecasts).",
    )
    poll_s: float = Field(
        default=1.0,
        gt=0.0,
        le=60.0,
        description="Real seconds the writer waits for messages before it looks at the clock.",
    )


class WebhookEndpoint(_Section):
    """One HTTP endpoint that receives fleet messages, signed with its secret."""

    name: Annotated[str, StringConstraints(pattern=_NAME)] = Field(
        description="Name of the endpoint (in the delivery table and the CLI)."
    )
    url: str = Field(description="http:// or https:// URL the messages are POSTed to.")
    secret_env: Annotated[str, StringConstraints(pattern=_ENV_NAME)] = Field(
        description="Environment variable holding the HMAC secret."
    )
    regions: list[Annotated[str, StringConstraints(pattern=_REGION)]] = Field(
        default_factory=list, description="Regions whose messages it receives (empty: all)."
    )
    kinds: list[MessageKind] = Field(
        default_factory=lambda: list(MESSAGE_KINDS),
        min_length=1,
        description="Kinds of message it receives: pickup, ticket, or both (the default).",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
        return value

    def wants(self, kind: str, region: str) -> bool:
        """Whether a message of ``kind`` from ``region`` goes to this endpoint."""
        return kind in self.kinds and (not self.regions or region in self.regions)

    def secret(self, environ: Mapping[str, str] | None = None) -> bytes | None:
        """The HMAC secret from the environment, or None when the variable is unset."""
        value = (os.environ if environ is None else environ).get(self.secret_env)
        return None if not value else value.encode("utf-8")


class DeliverySettings(_Section):
    """Retries of webhook deliveries: exponential backoff with jitter, then dead letters."""

    max_attempts: int = Field(
        default=12, ge=1, le=1000, description="Attempts before a delivery is dead-lettered."
    )
    backoff_min_s: float = Field(
        default=5.0, gt=0.0, le=3600.0, description="Delay after the first failure (before jitter)."
    )
    backoff_max_s: float = Field(
        default=3600.0, gt=0.0, le=86_400.0, description="Longest delay between attempts."
    )
    timeout_s: float = Field(
        default=10.0, gt=0.0, le=300.0, description="HTTP timeout of one attempt."
    )
    poll_s: float = Field(
        default=1.0,
        gt=0.0,
        le=60.0,
        description="Real seconds the delivery worker sleeps when nothing is due.",
    )

    @_model_validator(mode="after")
    def _order(self) -> Self:
        if self.backoff_min_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_min_s ({self.backoff_min_s}) exceeds backoff_max_s ({self.backoff_max_s})"
            )
        return self


class ApiToken(_Section):
    """One API token: who holds it, their role, and how to recognise it (never the token)."""

    name: Annotated[str, StringConstraints(pattern=_NAME)] = Field(
        description="Who holds the token (logged with every action)."
    )
    role: Role = Field(description="scheduler, technician or admin.")
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, description="Hex SHA-256 of the token."
    )
    env: Annotated[str, StringConstraints(pattern=_ENV_NAME)] | None = Field(
        default=None, description="Environment variable holding the token."
    )

    @_model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.sha256 is None) == (self.env is None):
            raise ValueError(f"token {self.name!r}: give exactly one of sha256 and env")
        return self

    def digest(self, environ: Mapping[str, str] | None = None) -> str:
        """The token's SHA-256, reading the environment if the token lives there."""
        if self.sha256 is not None:
            return self.sha256
        assert self.env is not None
        value = (os.environ if environ is None else environ).get(self.env)
        if not value:
            raise SettingsError("api", [f"api.tokens.{self.name}.env: {self.env} is not set"])
        return hashlib.sha256(value.encode("utf-8")).hexdigest()


class ApiSettings(_Section):
    """The REST API served inside ``bin-bridge run``."""

    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int | None = Field(
        default=None, ge=0, le=65535, description="Port of the API (unset: no API)."
    )
    tokens: list[ApiToken] = Field(default_factory=list, description="Who may call it.")
    max_rows: int = Field(
        default=10_000, ge=1, le=1_000_000, description="Most rows one list request returns."
    )
    action_timeout_s: float = Field(
        default=10.0, gt=0.0, le=300.0, description="How long an action waits for the writer."
    )


class Depot(_Section):
    """Where a region's vehicles start and end."""

    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)


class RouteRegion(_Section):
    """A region's depot and vehicles."""

    depot: Depot
    vehicles: int = Field(default=3, ge=1, le=500, description="Vehicles available.")
    vehicle_volume_l: float = Field(
        default=10_000.0, gt=0.0, le=1e6, description="Load volume of each vehicle."
    )
    vehicle_kg: float = Field(default=3_000.0, gt=0.0, le=1e6, description="Payload of each.")
    speed_kmh: float = Field(default=30.0, gt=0.0, le=200.0, description="Average speed.")
    shift_hours: float = Field(
        default=10.0, gt=0.0, le=24.0, description="Length of a shift from the plan's start."
    )


class RoutingSettings(_Section):
    """Route planning: containers, service time, solver budget and the regions' fleets."""

    default_container_l: float = Field(
        default=240.0, gt=0.0, le=100_000.0, description="Container volume of a bin."
    )
    container_l: dict[Annotated[str, StringConstraints(pattern=_BIN_ID)], float] = Field(
        default_factory=dict, description="Container volume per bin, where not the default."
    )
    service_minutes: float = Field(
        default=5.0, ge=0.0, le=240.0, description="Time spent at each stop."
    )
    time_limit_s: float = Field(
        default=5.0, gt=0.0, le=600.0, description="Time the solver may search."
    )
    regions: dict[Annotated[str, StringConstraints(pattern=_REGION)], RouteRegion] = Field(
        default_factory=dict, description="Depot and vehicles of each region."
    )

    @field_validator("container_l")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for bin_id, litres in value.items():
            if not 0 < litres <= 100_000:
                raise ValueError(f"container_l.{bin_id}: {litres} is not in (0, 100000]")
        return value

    def container_for(self, bin_id: str) -> float:
        """The container volume of ``bin_id`` in litres."""
        return self.container_l.get(bin_id, self.default_container_l)
