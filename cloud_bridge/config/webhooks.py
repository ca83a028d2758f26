"""Webhook endpoints and their delivery: who receives fleet messages by HTTP POST, and
how failed deliveries are retried before they are dead-lettered.

A webhook secret never lives in the file: it is read from the environment variable
its endpoint names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from cloud_bridge.config.base import EnvName, Name, Region, Section

MessageKind = Literal["pickup", "ticket"]
MESSAGE_KINDS: tuple[MessageKind, ...] = ("pickup", "ticket")
"""What fleet messages a webhook endpoint may receive."""


class WebhookEndpoint(Section):
    """One HTTP endpoint that receives fleet messages, signed with its secret."""

    name: Name = Field(description="Name of the endpoint (in the delivery table and the CLI).")
    url: str = Field(description="http:// or https:// URL the messages are POSTed to.")
    secret_env: EnvName = Field(description="Environment variable holding the HMAC secret.")
    regions: list[Region] = Field(
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


class DeliverySettings(Section):
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

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.backoff_min_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_min_s ({self.backoff_min_s}) exceeds backoff_max_s ({self.backoff_max_s})"
            )
        return self
