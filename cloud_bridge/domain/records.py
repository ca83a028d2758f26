"""The bridge's own records of bins and pickups, shared by the logic and the stores.

They are plain mutable dataclasses: the writer thread keeps them in memory, changes
them as messages arrive and hands the changed ones to the store at the end of each
batch, so a telemetry message costs no read of the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from protocol import (
    Location,
    ManifestEntry,
    Pickup,
    PickupPriority,
    PickupReason,
    PickupStatus,
    Ticket,
    TicketSeverity,
    TicketStatus,
)

OPEN_STATUSES: frozenset[str] = frozenset({"requested", "scheduled", "escalated"})


@dataclass(slots=True)
class Flag:
    """An alarm or fault as last reported: whether it is active, by which ``seq``, and
    the bin's own words about it."""

    active: bool
    seq: int
    detail: str | None = None


@dataclass(slots=True)
class HealthSnapshot:
    """What the newest health report said that tickets are raised on, and the
    bridge's counters that give those findings their hysteresis."""

    disk_free_mb: float
    outbox_depth: int
    outbox_oldest_s: float
    sensors: dict[str, str] = field(default_factory=dict)
    tray_idle_g: float | None = None
    drift_over: int = 0
    """Health reports in a row whose ``tray_idle_g`` was beyond the drift bound."""
    drift_within: int = 0
    """Health reports in a row whose ``tray_idle_g`` was within the bound."""
    drifting: bool = False
    """Calibration drift stands (set after enough reports over, cleared after as many within)."""
    backlog_since: datetime | None = None
    """Bridge time of the first report of the current run showing an outbox backlog."""

    def as_json(self) -> dict[str, Any]:
        """JSON-able form (for the store and the views)."""
        return {
            "disk_free_mb": self.disk_free_mb,
            "outbox_depth": self.outbox_depth,
            "outbox_oldest_s": self.outbox_oldest_s,
            "sensors": dict(self.sensors),
            "tray_idle_g": self.tray_idle_g,
            "drift_over": self.drift_over,
            "drift_within": self.drift_within,
            "drifting": self.drifting,
            "backlog_since": None if self.backlog_since is None else self.backlog_since.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HealthSnapshot:
        """Read back what :meth:`as_json` wrote."""
        since = data.get("backlog_since")
        return cls(
            disk_free_mb=float(data["disk_free_mb"]),
            outbox_depth=int(data["outbox_depth"]),
            outbox_oldest_s=float(data["outbox_oldest_s"]),
            sensors=dict(data.get("sensors") or {}),
            tray_idle_g=data.get("tray_idle_g"),
            drift_over=int(data.get("drift_over", 0)),
            drift_within=int(data.get("drift_within", 0)),
            drifting=bool(data.get("drifting", False)),
            backlog_since=None if since is None else datetime.fromisoformat(since),
        )


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
    offline_since: datetime | None = None
    """Bridge time of the death that made the bin offline (None while it is online)."""
    health: HealthSnapshot | None = None
    """The newest health report's figures for tickets (None before the first)."""
    desired_version: int | None = None
    """The newest configuration version the bridge pushed to the bin."""
    desired_at: datetime | None = None
    """When the bridge pushed it (bridge time)."""
    reported_version: int | None = None
    """The version of the bin's newest ``config/reported``."""
    reported_status: str | None = None
    """``applied``, ``rejected`` or ``rolled_back``."""
    reported_error: str | None = None
    reported_at: datetime | None = None
    """When the bridge received that report (bridge time)."""

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
    revision: int = 0
    """How many times the pickup was published (on the wire: receivers order updates)."""

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
            revision=self.revision or None,
        )


@dataclass(slots=True)
class TicketRecord:
    """One maintenance ticket: open while its cause stands, resolved once for good."""

    ticket_id: str
    bin_id: str
    region: str
    kind: str
    severity: TicketSeverity
    status: TicketStatus
    detail: str
    causes: list[str]
    opened_at: datetime
    ts: datetime
    resolved_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Whether the cause still stands."""
        return self.status == "open"

    def message(self) -> Ticket:
        """The wire message technicians receive."""
        return Ticket(
            ticket_id=self.ticket_id,
            bin_id=self.bin_id,
            status=self.status,
            severity=self.severity,
            kind=self.kind,
            detail=self.detail,
            opened_at=self.opened_at,
            ts=self.ts,
            region=self.region,
            resolved_at=self.resolved_at,
            causes=list(self.causes),
        )


COMMAND_STATUSES: tuple[str, ...] = ("pending", "ok", "failed", "timed_out")
"""``pending`` until the bin answers (``ok`` / ``failed``) or the answer is overdue."""


@dataclass(slots=True)
class CommandRecord:
    """A remote command the bridge sent, and the bin's answer when it came."""

    command_id: str
    bin_id: str
    name: str
    args: dict[str, Any]
    issued_at: datetime
    expires_at: datetime
    actor: str
    status: str = "pending"
    result: dict[str, Any] | None = None
    error: str | None = None
    answered_at: datetime | None = None
    """Bridge time the answer arrived."""
    timed_out_at: datetime | None = None
    """Bridge time the command was given up on (an answer may still arrive later)."""


@dataclass(frozen=True, slots=True)
class DesiredConfig:
    """One configuration version pushed to one bin."""

    bin_id: str
    version: int
    config: dict[str, Any]
    issued_at: datetime
    actor: str


@dataclass(frozen=True, slots=True)
class Publication:
    """A message waiting in the outbox until the broker acknowledges it."""

    id: int
    topic: str
    payload: bytes
    retain: bool = False


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

    Generic over what it carries: ``kind`` (``pickup`` or ``ticket``) and ``key``
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
