"""The bridge's MQTT connection: where the broker is, who the bridge is, how it reconnects.

The password never lives in the file: it is read from the environment variable
``password_env`` names, when connecting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from cloud_bridge.config.base import ENV_NAME_PATTERN, Section
from cloud_bridge.errors import BrokerUrlError, SettingsError
from protocol.transport import BrokerUrl
from protocol.transport import parse_broker_url as parse_url

BrokerAddress = BrokerUrl
"""Where the broker listens (the protocol package's broker URL type)."""


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse ``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]``; errors name the bad part."""
    try:
        return parse_url(url)
    except ValueError as err:
        raise BrokerUrlError(str(err)) from None


class BrokerSettings(Section):
    """The MQTT connection of the bridge."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description="Broker address, mqtt://HOST:PORT or mqtts://HOST:PORT (TLS).",
    )
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="revloop-bridge",
        description="Fixed MQTT client id; the broker keeps the persistent session under it.",
    )
    topic_prefix: Annotated[str, StringConstraints(pattern=r"^[^#+]+[^/#+]$")] = Field(
        default="bins/v1", description="Prefix of the bins' topics (no wildcards)."
    )
    username: str | None = Field(default=None, description="MQTT user name, if any.")
    password_env: str | None = Field(
        default=None,
        pattern=ENV_NAME_PATTERN,
        description="Name of the environment variable holding the MQTT password.",
    )
    ca_file: Path | None = Field(
        default=None, description="CA certificate for mqtts (system CAs when unset)."
    )
    cert_file: Path | None = Field(default=None, description="Client certificate (mqtts).")
    key_file: Path | None = Field(default=None, description="Client private key (mqtts).")
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive.")
    backoff_min_s: float = Field(
        default=0.5, ge=0.01, le=60.0, description="First reconnect delay (before jitter)."
    )
    backoff_max_s: float = Field(
        default=60.0, ge=0.1, le=3600.0, description="Longest reconnect delay."
    )
    stable_after_s: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="A connection that lasted this long resets the reconnect backoff.",
    )
    receive_window: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="Most unacknowledged QoS 1 messages the bridge lets the broker send.",
    )

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        parse_broker_url(value)
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> Self:
        if self.backoff_min_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_min_s ({self.backoff_min_s}) exceeds backoff_max_s ({self.backoff_max_s})"
            )
        return self

    @property
    def address(self) -> BrokerAddress:
        """The parsed URL."""
        return parse_broker_url(self.url)

    def password(self) -> str | None:
        """The MQTT password, read from the environment only when connecting."""
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise SettingsError(
                "broker", [f"broker.password_env: names {self.password_env}, which is not set"]
            )
        return value
