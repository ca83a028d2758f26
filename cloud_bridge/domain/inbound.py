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
"""The bin-to-cloud topic kinds the bridge subscribes to."""

WATCHED: tuple[TopicKind, ...] = (TopicKind.CONFIG_DESIRED,)
"""The cloud-to-bin topic kinds the bridge subscribes to as well: it publishes them, and
checks what is retained there against what it issued (a fresh database meets desired
configurations it has no record of; see ``cloud_bridge/services/remote_config.py``)."""
