"""Building and parsing the contract's MQTT topics.

Bin topics live under a configurable prefix (``bins/v1`` by default):
``{prefix}/{bin_id}/{suffix}``. Fleet topics carry the region:
``fleet/v1/pickups/{region}`` and ``fleet/v1/tickets/{region}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from protocol.errors import UnknownTopic

DEFAULT_PREFIX = "bins/v1"
FLEET_PREFIX = "fleet/v1"
EVENT_TYPES = ("deposit", "emptied", "alarm", "fault")
_BIN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
_REGION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class TopicKind(StrEnum):
    """What a bin topic carries; the value is the topic suffix (events add a type)."""

    STATE = "state"
    TELEMETRY = "telemetry"
    EVENT = "events"
    HEALTH = "health"
    CONFIG_DESIRED = "config/desired"
    CONFIG_REPORTED = "config/reported"
    CMD = "cmd"
    CMD_RESULT = "cmd/result"
    ACK = "ack"
    """Cloud to bin: what the bridge stored (optional extension, docs/protocol.md)."""


_SUFFIXES = {kind.value: kind for kind in TopicKind if kind is not TopicKind.EVENT}


@dataclass(frozen=True, slots=True)
class BinTopic:
    """A parsed bin topic: whose it is, what it carries and, for events, their type."""

    bin_id: str
    kind: TopicKind
    event_type: str | None = None

    def render(self, prefix: str = DEFAULT_PREFIX) -> str:
        """The topic string under ``prefix``."""
        return bin_topic(self.bin_id, self.kind, self.event_type, prefix=prefix)


def valid_bin_id(bin_id: str) -> bool:
    """Whether ``bin_id`` is safe in topics and ACL patterns."""
    return bool(_BIN_ID.match(bin_id))


def valid_region(region: str) -> bool:
    """Whether ``region`` can be a topic level (no wildcards, separators or spaces)."""
    return bool(_REGION.match(region))


def bin_topic(
    bin_id: str,
    kind: TopicKind,
    event_type: str | None = None,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> str:
    """Build a bin topic, refusing ids or event types the contract does not allow."""
    if not valid_bin_id(bin_id):
        raise ValueError(f"bin_id {bin_id!r} does not match ^[a-z0-9][a-z0-9-]{{2,62}}$")
    if kind is TopicKind.EVENT:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"event type {event_type!r} is not one of {', '.join(EVENT_TYPES)}")
        return f"{prefix}/{bin_id}/events/{event_type}"
    if event_type is not None:
        raise ValueError(f"only events take a type, not {kind.value}")
    return f"{prefix}/{bin_id}/{kind.value}"


def bin_wildcard(kind: TopicKind | None = None, *, prefix: str = DEFAULT_PREFIX) -> str:
    """A subscription filter for one kind of topic across all bins (or everything)."""
    if kind is None:
        return f"{prefix}/+/#"
    if kind is TopicKind.EVENT:
        return f"{prefix}/+/events/+"
    return f"{prefix}/+/{kind.value}"


def parse_bin_topic(topic: str, *, prefix: str = DEFAULT_PREFIX) -> BinTopic:
    """Split a bin topic into its parts; raise :class:`UnknownTopic` for anything else."""
    head = prefix + "/"
    if not topic.startswith(head):
        raise UnknownTopic(f"not under {prefix}/", topic=topic)
    bin_id, _, suffix = topic[len(head) :].partition("/")
    if not valid_bin_id(bin_id):
        raise UnknownTopic(f"bin id {bin_id!r} is not a valid bin_id", topic=topic)
    if suffix.startswith("events/"):
        event_type = suffix[len("events/") :]
        if event_type not in EVENT_TYPES:
            raise UnknownTopic(f"unknown event type {event_type!r}", topic=topic)
        return BinTopic(bin_id, TopicKind.EVENT, event_type)
    kind = _SUFFIXES.get(suffix)
    if kind is None:
        raise UnknownTopic(f"unknown topic suffix {suffix!r}", topic=topic)
    return BinTopic(bin_id, kind)


def pickups_topic(region: str) -> str:
    """The topic on which schedulers receive a region's pickups."""
    if not valid_region(region):
        raise ValueError(f"region {region!r} cannot be a topic level")
    return f"{FLEET_PREFIX}/pickups/{region}"


def tickets_topic(region: str) -> str:
    """The topic on which technicians receive a region's tickets."""
    if not valid_region(region):
        raise ValueError(f"region {region!r} cannot be a topic level")
    return f"{FLEET_PREFIX}/tickets/{region}"
