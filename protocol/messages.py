"""Pydantic models for every message of the wire contract v1.

The models validate strictly (a string is never coerced into a number, nor a number
into a bool) and ignore unknown fields, so newer peers may add optional fields.
Timestamps are timezone-aware and always serialised as RFC 3339 UTC with milliseconds.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

PROTOCOL_VERSION: Literal[1] = 1
MAX_INT = 2**63 - 1
"""The largest integer any field may carry: SQLite's (and most databases') int64."""
MAX_SEQ = MAX_INT
BIN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
MIN_TS = datetime(1970, 1, 1, tzinfo=UTC)
"""Earliest timestamp accepted (an unsynchronised bin's clock starts at the epoch)."""
MAX_TS = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
"""Latest timestamp accepted (the last one RFC 3339's four-digit year can write)."""


def format_ts(value: datetime) -> str:
    """Render a timestamp the way the contract requires: ``2026-11-21T10:00:00.123Z``."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return value.astimezone(UTC)


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # beyond year 1 or 9999 once in UTC
        utc = None
    if utc is None or not MIN_TS <= utc <= MAX_TS:
        raise ValueError(f"timestamp must lie between {format_ts(MIN_TS)} and {format_ts(MAX_TS)}")
    return utc


def _exact_int(value: Any) -> Any:
    """Refuse a bool or a float where an integer is required (``true == 1 == 1.0``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be the integer {PROTOCOL_VERSION}, not {value!r}")
    return value


def _finite_json(value: Any, path: str = "") -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path or 'value'} must be a finite number, not {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise ValueError(f"{path or 'value'} is outside the 64-bit integer range")
    if isinstance(value, dict):
        for key, item in value.items():
            _finite_json(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _finite_json(item, f"{path}[{index}]")


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    """Free-form objects (command args and results, configurations) hold only what JSON
    and an int64 column can: no NaN or infinity, no integer beyond 64 bits."""
    _finite_json(value)
    return value


TIMESTAMP_JSON_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "examples": ["2026-11-21T10:00:00.123Z"],
}
"""How a serialised timestamp is described in JSON Schema (RFC 3339 UTC, milliseconds)."""

Timestamp = Annotated[
    datetime,
    AfterValidator(_to_utc),
    PlainSerializer(format_ts, return_type=str, when_used="json-unless-none"),
    WithJsonSchema(TIMESTAMP_JSON_SCHEMA, mode="serialization"),
]
BinId = Annotated[str, StringConstraints(pattern=BIN_ID_PATTERN)]
Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]
Percent = Annotated[float, Field(ge=0.0, le=100.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
NonNegative = Annotated[float, Field(ge=0.0)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]
Version = Annotated[Literal[1], BeforeValidator(_exact_int)]

Category = Literal["cardboard", "glass", "metal", "paper", "plastic", "trash", "unknown"]
CATEGORIES: tuple[Category, ...] = (
    "cardboard",
    "glass",
    "metal",
    "paper",
    "plastic",
    "trash",
    "unknown",
)
DoorState = Literal["closed", "open", "locked"]
StateReason = Literal["connect", "shutdown", "lost"]
AlarmKind = Literal["fire", "tilt", "tamper", "overflow", "door_stuck"]
FaultComponent = Literal["ultrasonic", "loadcell", "camera", "door", "flap", "storage", "network"]
ComponentHealth = Literal["ok", "degraded", "failed"]
ConfigStatus = Literal["applied", "rejected", "rolled_back"]
CommandName = Literal["ping", "selftest", "tare", "lock", "unlock", "capture", "restart"]
COMMAND_NAMES: tuple[CommandName, ...] = (
    "ping",
    "selftest",
    "tare",
    "lock",
    "unlock",
    "capture",
    "restart",
)
PickupStatus = Literal["requested", "scheduled", "collected", "cancelled", "escalated"]
PickupPriority = Literal["normal", "high", "urgent"]
PickupReason = Literal["threshold", "forecast", "alarm", "manual"]
TicketStatus = Literal["open", "resolved"]
TicketSeverity = Literal["info", "warning", "critical"]


class WireModel(BaseModel):
    """Base of all wire models: strict types, finite numbers, unknown fields ignored,
    immutable. Serialised, a model writes every field (optional ones as null), so its
    serialisation schema (the REST API's responses) lists them all as required."""

    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,
        json_schema_serialization_defaults_required=True,
    )


class Versioned(WireModel):
    """A message carrying ``v``: defaulted when built in code, required on the wire
    (the codec checks it was given)."""

    v: Version = Field(default=PROTOCOL_VERSION, description="Version of the wire contract.")


class Location(WireModel):
    """Where a bin stands; either coordinate may be unknown."""

    lat: Annotated[float, Field(ge=-90.0, le=90.0)] | None = Field(
        description="Latitude in degrees (WGS 84); null when unknown."
    )
    lon: Annotated[float, Field(ge=-180.0, le=180.0)] | None = Field(
        description="Longitude in degrees (WGS 84); null when unknown."
    )


class Envelope(Versioned):
    """Fields every bin-to-cloud message carries; ``(bin_id, seq)`` deduplicates."""

    bin_id: BinId
    seq: Seq
    boot_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    ts: Timestamp
    clock_synced: bool


class State(Envelope):
    """Birth (``online``) or death of a bin's connection; retained, also the MQTT Will."""

    online: bool
    bd_seq: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    agent_version: str
    config_version: Count
    reason: StateReason
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """Required on the wire: a bin without a configured region sends ``default``."""
    location: Location | None


class Telemetry(Envelope):
    """Periodic measurements of the container."""

    fill_pct: Percent | None
    fill_mm: NonNegative | None
    weight_kg: NonNegative | None
    temp_c: Annotated[float, Field(ge=-60.0, le=200.0)] | None
    door: DoorState
    deposits_since_empty: Count


class DepositEvent(Envelope):
    """One item put on the tray and the decision taken on it."""

    deposit_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    category: Category
    confidence: Fraction
    accepted: bool
    reason: str | None
    weight_g: NonNegative
    model: str
    decision_ms: NonNegative | None = None
    """Optional: bin time from the door closing to the decision."""


class EmptiedEvent(Envelope):
    """The container was emptied (by a crew or a technician)."""

    fill_before_pct: Percent | None
    fill_after_pct: Percent | None
    weight_before_kg: NonNegative | None
    pickup_id: str | None


class AlarmEvent(Envelope):
    """A condition that needs attention at the bin; ``active`` false clears it."""

    kind: AlarmKind
    active: bool
    detail: str | None


class FaultEvent(Envelope):
    """A component failed (``active``) or recovered."""

    component: FaultComponent
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    active: bool
    detail: str | None


class Health(Envelope):
    """Periodic device health summary for technicians."""

    uptime_s: NonNegative
    cpu_temp_c: float | None
    disk_free_mb: NonNegative
    outbox_depth: Count
    outbox_oldest_s: NonNegative
    outbox_dropped: Count
    reconnects: Count
    agent_version: str
    config_version: Count
    model_version: str
    sensors: dict[str, ComponentHealth]
    tray_idle_g: float | None = None
    """Optional: the tray's net weight read while the bin was idle with its door closed
    and its tray known empty (so ideally 0 g; a steady offset is tare drift); null when
    it could not be read then."""
    outbox_unconfirmed: Count | None = None
    """Optional: outbox rows the broker took that the bridge has not confirmed yet (part
    of ``outbox_depth``; always 0 on a bin that deletes rows at the broker's PUBACK)."""
    outbox_unconfirmed_oldest_s: NonNegative | None = None
    """Optional: how long ago the broker took the oldest of them (0 when there is none)."""


class ConfigReported(Envelope):
    """What the bin did with a desired configuration."""

    version: Count
    status: ConfigStatus
    error: str | None


class CommandResult(Envelope):
    """Outcome of a remote command, correlated by ``id``."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    ok: bool
    result: JsonObject
    error: str | None


class ConfigDesired(WireModel):
    """A versioned, retained remote configuration from the cloud (no envelope)."""

    version: Annotated[int, Field(ge=1, le=MAX_SEQ)]
    config: JsonObject
    issued_at: Timestamp


class Command(WireModel):
    """A remote command from the cloud (no envelope).

    ``name`` is kept as a plain string so a bin can answer an unknown command with
    ``ok: false`` instead of failing to parse it.
    """

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    args: JsonObject
    issued_at: Timestamp
    expires_at: Timestamp

    @property
    def known(self) -> bool:
        """Whether ``name`` is one of the contract's commands."""
        return self.name in COMMAND_NAMES

    def expired(self, now: datetime) -> bool:
        """Whether the command must no longer be executed at ``now``."""
        return now >= self.expires_at


MAX_ACK_RANGES = 1000
"""The most ranges one ``ack`` carries (about 45 KB at worst); more take several."""


def _ordered_range(value: tuple[int, int]) -> tuple[int, int]:
    if value[0] > value[1]:
        raise ValueError(f"a range runs from its first seq to its last, not {list(value)}")
    return value


SeqRange = Annotated[tuple[Seq, Seq], AfterValidator(_ordered_range)]
"""``[first, last]``: every ``seq`` from ``first`` to ``last``, both included."""


class Ack(Versioned):
    """The bridge's end-to-end acknowledgement to one bin (no envelope; optional extension).

    It names exactly the ``seq`` values the bridge has stored from that bin (or found
    stored already, or rejected for good), as ranges: a bin deletes those outbox rows
    only then, not at the broker's PUBACK, so a broker that loses what it acknowledged
    loses nothing. It never names a state message, whose ``seq`` is not its own.
    """

    ranges: Annotated[list[SeqRange], Field(min_length=1, max_length=MAX_ACK_RANGES)]
    ts: Timestamp


class ManifestEntry(WireModel):
    """Accepted deposits of one category since the last emptying."""

    count: Count = Field(description="How many items.")
    kg: NonNegative = Field(description="Their weight in kg.")


class Pickup(Versioned):
    """A pickup request and its lifecycle, for schedulers."""

    pickup_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The pickup's id, the same in every update of it."
    )
    bin_id: BinId = Field(description="The bin to collect.")
    status: PickupStatus = Field(
        description="requested, then scheduled; collected (on evidence from the bin), "
        "escalated (due_by passed) or cancelled."
    )
    priority: PickupPriority = Field(description="normal, high or urgent; it never falls.")
    reason: PickupReason = Field(description="What requested it.")
    fill_pct: Percent | None = Field(
        description="The bin's fill in % (the Revloop bridge never sends null)."
    )
    predicted_full_at: Timestamp | None = Field(
        description="When the bin is forecast to be full; null without a forecast."
    )
    due_by: Timestamp = Field(description="The crew must come by then.")
    location: Location | None = Field(
        description="Where the bin stands (never null from the Revloop bridge; its "
        "coordinates are null while the bin has reported none)."
    )
    manifest: dict[str, ManifestEntry] = Field(
        description="Count and kg per category of the deposits accepted since the last "
        "emptying (of a collected pickup: what was collected)."
    )
    ts: Timestamp = Field(description="When this version of the pickup was published.")
    region: str | None = Field(default=None, description="Optional: the bin's region.")
    forecast_low: Timestamp | None = Field(
        default=None,
        description="Optional: early end (p10) of the band around predicted_full_at.",
    )
    forecast_high: Timestamp | None = Field(
        default=None,
        description="Optional: late end (p90) of the band around predicted_full_at.",
    )
    acknowledged_at: Timestamp | None = Field(
        default=None, description="Optional: when a scheduler acknowledged the request."
    )
    scheduled_for: Timestamp | None = Field(
        default=None,
        description="Optional: when a scheduler plans to collect (status scheduled).",
    )
    escalated_at: Timestamp | None = Field(
        default=None, description="Optional: when due_by passed without a collection."
    )
    closed_at: Timestamp | None = Field(
        default=None, description="Optional: when the pickup was collected or cancelled."
    )
    cancel_reason: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None,
        description="Optional: why a scheduler cancelled it (status cancelled).",
    )
    revision: Annotated[int, Field(ge=1, le=MAX_INT)] | None = Field(
        default=None,
        description="Optional: 1 on the first publication of this pickup, +1 on every "
        "later one (receivers keep the highest).",
    )


class Ticket(Versioned):
    """A maintenance ticket for technicians."""

    ticket_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The ticket's id, the same in every update of it."
    )
    bin_id: BinId = Field(description="The bin that needs a technician.")
    status: TicketStatus = Field(description="open while a cause stands, then resolved.")
    severity: TicketSeverity = Field(
        description="critical (safety, or the bin cannot work), warning (degraded, needs "
        "a visit) or info (for the next visit)."
    )
    kind: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="What is wrong: offline, sensor_fault, camera_fault, storage_low, "
        "outbox_backlog, calibration_drift, alarm, config_not_applied."
    )
    detail: str | None = Field(description="What is wrong, in words.")
    opened_at: Timestamp = Field(description="When the ticket was opened.")
    ts: Timestamp = Field(description="When this version of the ticket was published.")
    region: str | None = Field(default=None, description="Optional: the bin's region.")
    resolved_at: Timestamp | None = Field(
        default=None, description="Optional: when the cause cleared (status resolved)."
    )
    causes: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] | None = Field(
        default=None,
        description="Optional: machine-readable causes, e.g. ultrasonic/no_echo or fire.",
    )


BinMessage = (
    State
    | Telemetry
    | DepositEvent
    | EmptiedEvent
    | AlarmEvent
    | FaultEvent
    | Health
    | ConfigReported
    | CommandResult
)
