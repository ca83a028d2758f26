"""How the bin reports: reporting periods, the broker connection with TLS, and local storage."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self

from pydantic import (
    Field,
    model_validator,
)

from firmware_config.schema.base import Section


class Intervals(Section):
    """How often the agent measures and reports."""

    telemetry_s: float = Field(default=300.0, ge=1.0, le=86_400.0, description="Telemetry period.")
    health_s: float = Field(default=900.0, ge=5.0, le=86_400.0, description="Health period.")
    fill_sample_s: float = Field(
        default=60.0, ge=1.0, le=3600.0, description="Fill measurement period while idle."
    )
    door_poll_ms: int = Field(
        default=50, ge=5, le=1000, description="Door and beam poll period where edges are missed."
    )


class Tls(Section):
    """TLS to the broker with a private CA and a per-bin client certificate."""

    enabled: bool = Field(default=False, description="Connect with TLS.")
    ca_file: Path | None = Field(default=None, description="CA certificate (PEM).")
    cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM), CN = bin_id."
    )
    key_file: Path | None = Field(default=None, description="Client private key (PEM).")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.enabled and self.ca_file is None:
            raise ValueError("broker.tls.ca_file is required when broker.tls.enabled is true")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("broker.tls.cert_file and broker.tls.key_file go together")
        return self


class Broker(Section):
    """The MQTT connection."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Broker host name.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port.")
    protocol: Literal["3.1.1", "5"] = Field(
        default="3.1.1", description="MQTT protocol version; the contract needs only 3.1.1."
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive.")
    topic_prefix: str = Field(
        default="bins/v1", pattern=r"^[A-Za-z0-9_/-]+$", description="Prefix of the bin topics."
    )
    username: str | None = Field(default=None, description="MQTT user name (optional).")
    password_env: str | None = Field(
        default=None,
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="Name of the environment variable holding the MQTT password.",
    )
    backoff_min_s: float = Field(
        default=1.0, ge=0.05, le=60.0, description="First reconnect delay."
    )
    backoff_max_s: float = Field(
        default=120.0, ge=1.0, le=3600.0, description="Longest reconnect delay."
    )
    inflight: int = Field(
        default=20, ge=1, le=1000, description="Unacknowledged publishes in flight at once."
    )
    confirm: Literal["bridge", "broker"] = Field(
        default="bridge",
        description=(
            "When an outbox row may go: 'bridge' once the bridge's ack says it is stored "
            "(survives a broker that loses what it acknowledged), 'broker' at the "
            "broker's PUBACK (for a consumer that sends no ack)."
        ),
    )
    confirm_timeout_s: float = Field(
        default=600.0,
        ge=5.0,
        le=86_400.0,
        description=(
            "Publish a message again when the bridge, while acknowledging others, has "
            "not confirmed it this long after the broker took it."
        ),
    )
    tls: Tls = Field(default_factory=Tls, description="TLS settings.")

    def password(self) -> str | None:
        """The MQTT password, read from the environment only when connecting."""
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise LookupError(f"broker.password_env names {self.password_env}, which is not set")
        return value


class Storage(Section):
    """Where the agent keeps its outbox and state, and how large they may grow."""

    path: Path = Field(
        default=Path("/var/lib/revloop/agent.db"), description="SQLite database of the agent."
    )
    max_rows: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description="Outbox rows before telemetry is dropped.",
    )
    max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=64 * 1024,
        le=16 * 1024**3,
        description="Outbox payload bytes before telemetry is dropped.",
    )
