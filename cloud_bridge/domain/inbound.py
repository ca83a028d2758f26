"""What the broker link hands to the engine: one received message, and the topic kinds
the bridge listens to.

They live here, below both ``mqtt/`` (which makes them) and ``engine/`` (which consumes
them), so the transport never imports its consumer.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol import TopicKind


@dataclass(slots=True)
class Inbound:
    """One message as received, with what is needed to acknowledge it later."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 0
    generation: int = 0
    retained: bool = False


SUBSCRIPTIONS: tuple[TopicKind, ...] = (
    TopicKind.STATE,
    TopicKind.TELEMETRY,
    TopicKind.EVENT,
    TopicKind.HEALTH,
    TopicKind.CONFIG_REPORTED,
    TopicKind.CMD_RESULT,
)
"""The bin-to-cloud topic kinds the bridge subscribes to (never the cloud-to-bin ones)."""
