"""The REST API served inside ``bin-bridge run``: where it listens and who may call it.

A token never lives in the file: it is given as the SHA-256 of the token, or as the
name of an environment variable that holds it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from cloud_bridge.config.base import EnvName, Name, Section
from cloud_bridge.errors import SettingsError

Role = Literal["scheduler", "technician", "admin", "facility"]
ROLES: tuple[Role, ...] = ("scheduler", "technician", "admin", "facility")


class ApiToken(Section):
    """One API token: who holds it, their role, and how to recognise it (never the token)."""

    name: Name = Field(description="Who holds the token (logged with every action).")
    role: Role = Field(description="scheduler, technician, facility or admin.")
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, description="Hex SHA-256 of the token."
    )
    env: EnvName | None = Field(default=None, description="Environment variable holding the token.")
    facilities: list[Name] | None = Field(
        default=None,
        description="A facility token: the facilities it records for (unset: every one).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.sha256 is None) == (self.env is None):
            raise ValueError(f"token {self.name!r}: give exactly one of sha256 and env")
        if self.facilities is not None and self.role != "facility":
            raise ValueError(f"token {self.name!r}: only a facility token names facilities")
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


class ApiSettings(Section):
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
    max_waits_per_token: int = Field(
        default=8,
        ge=1,
        le=10_000,
        description="Most long polls (GET /v1/commands/{id}?wait=) one token may hold at a "
        "time; one more is a 429.",
    )
