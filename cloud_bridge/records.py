"""The bridge's own records of bins and pickups, shared by the logic and the stores.

They are plain mutable dataclasses: the writer thread keeps them in memory, changes
them as messages arrive and hands the changed ones to the store at the end of each
batch, so a telemetry message costs no read of the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from protocol import Location, ManifestEntry, Pickup, PickupPriority, PickupReason, PickupStatus

OPEN_STATUSES: frozenset[str] = frozenset({"requested", "scheduled", "escalated"})


@dataclass(slots=True)
class Flag:
    """An alarm or fault as last reported: whether it is active and by which ``seq``."""

    active: bool
    seq: int


@dataclass(slots=True)
class BinRecord:
    """Everything the bridge knows about one bin now.

    Each group of fields remembers the ``seq`` it came from, so a message delivered
    late (lower ``seq``) is stored but never rolls the current state back.
    ``stored_seq`` is the highest ``seq`` in the message log: anything above it cannot
    be a duplicate, which spares the common in-order case a lookup.
    """

    bin_id: str
    region: str
    location: Location | None = None
    registered_at: datetime | None = None
    online: bool = False
    bd_seq: int | None = None
    state_reason: str | None = None
    agent_version: str | None = None
    config_version: int | None = None
    last_seq: int = 0
    stored_seq: int = 0
    last_ts: datetime | None = None
    clock_synced: bool | None = None
    last_seen: datetime | None = None
    telemetry_seq: int = 0
    fill_pct: float | None = None
    fill_mm: float | None = None
    weight_kg: float | None = None
    temp_c: float | None = None
    door: str | None = None
    deposits_since_empty: int | None = None
    emptied_seq: int = 0
    alarms: dict[str, Flag] = field(default_factory=dict)
    faults: dict[str, Flag] = field(default_factory=dict)
    health_seq: int = 0
    config_seq: int = 0
    pickup_hold: bool = False
    """A scheduler cancelled the last pickup: no automatic request until the next emptying."""

    @property
    def registered(self) -> bool:
        """Whether the bin has announced itself with a birth."""
        return self.registered_at is not None

    def alarm_active(self, kind: str) -> bool:
        """Whether alarm ``kind`` is active as of the newest report."""
        flag = self.alarms.get(kind)
        return flag is not None and flag.active


@dataclass(slots=True)
class PickupRecord:
    """One pickup and what was last published about it.

    ``sent_*`` hold what schedulers last received, so the policy can decide when a
    change is worth republishing; ``below_threshold`` notices repeated crossings.
    """

    pickup_id: str
    bin_id: str
    region: str
    status: PickupStatus
    priority: PickupPriority
    reason: PickupReason
    fill_pct: float | None
    predicted_full_at: datetime | None
    due_by: datetime
    location: Location | None
    manifest: dict[str, ManifestEntry]
    ts: datetime
    requested_at: datetime
    trigger_seq: int
    closed_at: datetime | None = None
    crossings: int = 1
    below_threshold: bool = False
    sent_fill_pct: float | None = None
    sent_priority: PickupPriority | None = None
    sent_manifest: dict[str, ManifestEntry] | None = None
    sent_at: datetime | None = None
    forecast_low: datetime | None = None
    forecast_high: datetime | None = None
    acknowledged_at: datetime | None = None
    scheduled_for: datetime | None = None
    escalated_at: datetime | None = None
    cancel_reason: str | None = None
    note: str | None = None
    """The scheduler's note with the last action (not on the wire)."""
    drop_seq: int | None = None
    """First reading of a fill drop that awaits confirmation as an emptying."""
    drop_readings: int = 0
    sent_predicted_full_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Whether the pickup still awaits collection."""
        return self.status in OPEN_STATUSES

    def message(self) -> Pickup:
        """The wire message schedulers receive."""
        return Pickup(
            pickup_id=self.pickup_id,
            bin_id=self.bin_id,
            status=self.status,
            priority=self.priority,
            reason=self.reason,
            fill_pct=self.fill_pct,
            predicted_full_at=self.predicted_full_at,
            due_by=self.due_by,
            location=self.location,
            manifest=dict(self.manifest),
            ts=self.ts,
            region=self.region,
            forecast_low=self.forecast_low,
            forecast_high=self.forecast_high,
            acknowledged_at=self.acknowledged_at,
            scheduled_for=self.scheduled_for,
            escalated_at=self.escalated_at,
            closed_at=self.closed_at,
            cancel_reason=self.cancel_reason,
        )


@dataclass(frozen=True, slots=True)
class Publication:
    """A message waiting in the outbox until the broker acknowledges it."""

    id: int
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class RejectionCount:
    """How many messages were rejected for one reason, and the latest example."""

    reason: str
    count: int
    last_topic: str | None
    last_detail: str | None
    last_at: datetime | None


@dataclass(frozen=True, slots=True)
class DepositRow:
    """A stored deposit event, for the API, the CLI and exports."""

    bin_id: str
    seq: int
    deposit_id: str
    ts: datetime
    received_at: datetime | None
    clock_synced: bool | None
    category: str
    confidence: float
    accepted: bool
    reason: str | None
    weight_g: float
    model: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message for one webhook endpoint, until it is delivered or dead-lettered.

    Generic over what it carries: ``kind`` (``pickup``, later ``ticket``) and ``key``
    (the pickup or ticket id) say what the body is.
    """

    id: int
    endpoint: str
    kind: str
    key: str
    body: bytes
    created_at: datetime
    attempts: int
    next_attempt_at: datetime
    state: str
    """``pending``, ``delivered`` or ``dead``."""
    last_error: str | None
    last_status: int | None
    delivered_at: datetime | None
