"""Composing the bin's outgoing messages: the envelope and each payload.

The outbox assigns ``seq`` when it stores a message, so builders here return a
function of ``seq`` that produces the encoded payload.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from agent.clock import Clock
from firmware_config.schema import DeviceConfig
from protocol import encode
from protocol.messages import (
    AlarmEvent,
    CommandResult,
    ConfigReported,
    DepositEvent,
    EmptiedEvent,
    Envelope,
    FaultEvent,
    Health,
    Location,
    State,
    Telemetry,
)
from protocol.topics import TopicKind, bin_topic

PayloadBuilder = Callable[[int], bytes]


def new_boot_id() -> str:
    """A random id for this start of the agent process."""
    return secrets.token_hex(8)


class MessageFactory:
    """Builds this bin's topics and payloads with a consistent envelope."""

    def __init__(
        self, config: DeviceConfig, clock: Clock, *, boot_id: str, agent_version: str
    ) -> None:
        self.config = config
        self.bin_id = config.identity.bin_id
        self.prefix = config.broker.topic_prefix
        self.clock = clock
        self.boot_id = boot_id
        self.agent_version = agent_version

    def topic(self, kind: TopicKind, event_type: str | None = None) -> str:
        """This bin's topic of the given kind."""
        return bin_topic(self.bin_id, kind, event_type, prefix=self.prefix)

    def _envelope(self, seq: int) -> dict[str, Any]:
        return {
            "bin_id": self.bin_id,
            "seq": seq,
            "boot_id": self.boot_id,
            "ts": self.clock.now(),
            "clock_synced": self.clock.clock_synced(),
        }

    def build(self, message_type: type[Envelope], /, **fields: Any) -> PayloadBuilder:
        """A builder for ``message_type`` with the envelope filled in at storage time."""

        def payload(seq: int) -> bytes:
            return encode(message_type(**self._envelope(seq), **fields))

        return payload

    def state(self, seq: int, bd_seq: int, online: bool, reason: str) -> bytes:
        """A birth or death; ``seq`` is the counter's current value (it may repeat)."""
        identity = self.config.identity
        return encode(
            State(
                **self._envelope(max(seq, 1)),
                online=online,
                bd_seq=bd_seq,
                agent_version=self.agent_version,
                config_version=self.config.config_version,
                reason=reason,  # type: ignore[arg-type]
                region=identity.region,
                location=Location(lat=identity.location.lat, lon=identity.location.lon),
            )
        )


MODELS_BY_EVENT: dict[str, type[Envelope]] = {
    "deposit": DepositEvent,
    "emptied": EmptiedEvent,
    "alarm": AlarmEvent,
    "fault": FaultEvent,
}
"""The payload model of each ``events/{type}`` topic."""

__all__ = [
    "MODELS_BY_EVENT",
    "CommandResult",
    "ConfigReported",
    "Health",
    "MessageFactory",
    "PayloadBuilder",
    "Telemetry",
    "new_boot_id",
]
