"""Response bodies of the REST API, so the OpenAPI document says what each route returns.

The routes still build their JSON with :mod:`cloud_bridge.views.rows` (the CLI's ``--json``
prints the same rows); these models describe those rows key for key, in the same
order, and FastAPI checks every response against them. They forbid unknown keys and
coerce nothing, so a key a view gains without its model here, or a value of another
type, is a 500 in the tests instead of a key that silently vanishes or changes.
Pickups and tickets are served as the wire messages themselves (:class:`protocol.Pickup`,
:class:`protocol.Ticket`), which describe themselves.

Times are strings as the views write them (:func:`protocol.format_ts`): RFC 3339 in
UTC with milliseconds, ``2026-11-21T10:00:00.123Z``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from cloud_bridge.domain.forecast import ForecastMethod
from protocol import (
    AlarmKind,
    Category,
    CommandName,
    ComponentHealth,
    ConfigStatus,
    DoorState,
    Location,
    ManifestEntry,
    PickupPriority,
    PickupStatus,
)
from protocol.messages import TIMESTAMP_JSON_SCHEMA

Timestamp = Annotated[str, WithJsonSchema(TIMESTAMP_JSON_SCHEMA)]
"""A time as the views write it: RFC 3339, UTC, milliseconds."""

CommandStatus = Literal["pending", "ok", "failed", "timed_out"]
"""``pending`` until the bin answers (``ok`` / ``failed``) or the answer is overdue."""
DeliveryState = Literal["pending", "delivered", "dead"]
"""Where a webhook delivery stands; ``dead`` is a dead letter."""
ConfigState = Literal[
    "none", "pending", "applied", "rejected", "rolled_back", "overdue", "superseded"
]
"""Where a bin stands with the configuration pushed to it last (``none``: nothing pushed)."""

# Fields that several bodies share, described once.
BinId = Annotated[str, Field(description="The bin's id.")]
PickupId = Annotated[str, Field(description="The pickup's id.")]
Region = Annotated[str, Field(description="The bin's logistics region.")]
Online = Annotated[bool, Field(description="Whether the bin is connected now.")]
BinTime = Annotated[Timestamp, Field(description="When it happened, by the bin's clock.")]
ReceivedAt = Annotated[
    Timestamp | None,
    Field(description="When the bridge received it (null for rows stored before it was kept)."),
]
ClockSynced = Annotated[
    bool | None,
    Field(
        description="Whether the bin's clock was synchronised then (a Pi without RTC boots "
        "with a wrong clock); null when unknown."
    ),
]
FillPct = Annotated[
    float | None, Field(description="Fill in %; null when the fill sensor could not read it.")
]
WeightKg = Annotated[float | None, Field(description="Net weight of the contents in kg.")]
Door = Annotated[DoorState | None, Field(description="closed, open or locked (full).")]
Manifest = Annotated[
    dict[str, ManifestEntry],
    Field(description="Count and kg per category of accepted deposits."),
]
DesiredVersion = Annotated[
    int | None, Field(description="The configuration version pushed to the bin last.")
]
DesiredAt = Annotated[Timestamp | None, Field(description="When it was pushed (bridge time).")]
ReportedVersion = Annotated[
    int | None, Field(description="The version of the bin's newest configuration report.")
]
ReportedStatus = Annotated[
    ConfigStatus | None,
    Field(description="What the bin did with that version: applied, rejected or rolled_back."),
]
ReportedError = Annotated[
    str | None, Field(description="Why the bin did not apply it, naming the key.")
]
RunningVersion = Annotated[
    int | None,
    Field(description="The configuration version the bin runs (from its birth and health)."),
]


class ResponseModel(BaseModel):
    """Base of the response bodies: every key declared, none added, nothing coerced.

    FastAPI keeps only the keys a response model declares; forbidding the others turns
    a key a view gained without its model into an error rather than a quiet loss.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class Point(ResponseModel):
    """A depot's or a route stop's position: unlike a bin's location, both coordinates are set."""

    lat: float = Field(description="Latitude in degrees (WGS 84).")
    lon: float = Field(description="Longitude in degrees (WGS 84).")


class BinHealth(ResponseModel):
    """The figures of a bin's newest health report that tickets are raised on."""

    disk_free_mb: float = Field(description="Free space on the bin's disk in MB.")
    outbox_depth: int = Field(description="Messages waiting in the bin's outbox.")
    outbox_oldest_s: float = Field(description="Age of the oldest of them in seconds.")
    sensors: dict[str, ComponentHealth] = Field(
        description="Each component's state: ok, degraded or failed."
    )
    tray_idle_g: float | None = Field(
        description="The idle, empty tray's weight in g (ideally 0: a steady offset is tare "
        "drift); null when it could not be read."
    )


class ForecastBand(ResponseModel):
    """When a bin will be full, as every bin row carries it (all null before a forecast)."""

    predicted_full_at: Timestamp | None = Field(
        description="When the bin reaches its region's full_pct; null without a forecast "
        "or when the method is insufficient or no_rise."
    )
    forecast_low: Timestamp | None = Field(
        description="Early end (p10) of the band around predicted_full_at."
    )
    forecast_high: Timestamp | None = Field(
        description="Late end (p90) of the band around predicted_full_at."
    )
    forecast_method: ForecastMethod | None = Field(
        description="linear, daily or weekly (the rhythm used), full (already full), "
        "insufficient (too few readings) or no_rise (not filling)."
    )
    fill_rate_pct_per_h: float | None = Field(description="Mean fill rate in % per clock hour.")
    forecast_at: Timestamp | None = Field(description="When the forecast was made.")


class BinState(ResponseModel):
    """A bin's state, presence, health and configuration (a bin row without its forecast)."""

    bin_id: BinId
    region: Region
    online: Online
    registered: bool = Field(
        description="Whether the bin announced itself with a birth (else it was only heard "
        "through its data and has the default region)."
    )
    location: Location | None = Field(description="Where the bin stands; null before a birth.")
    fill_pct: FillPct
    fill_mm: float | None = Field(description="The distance the fill sensor measured, in mm.")
    weight_kg: WeightKg
    temp_c: float | None = Field(description="Temperature in the bin in °C.")
    door: Door
    deposits_since_empty: int | None = Field(
        description="Items the bin accepted since its last emptying."
    )
    last_seq: int = Field(description="The highest seq heard from the bin (0 before any).")
    last_ts: Timestamp | None = Field(description="The bin's time of that message.")
    last_seen: Timestamp | None = Field(description="When the bridge last heard from the bin.")
    clock_synced: ClockSynced
    bd_seq: int | None = Field(description="Connection attempt of the newest birth or death.")
    agent_version: str | None = Field(description="The agent version the bin runs.")
    config_version: RunningVersion
    alarms: list[AlarmKind] = Field(description="Active alarms, sorted.")
    faults: list[str] = Field(
        description="Active faults as component/code (e.g. ultrasonic/no_echo), sorted."
    )
    pickup_hold: bool = Field(
        description="A scheduler cancelled the last pickup: no automatic request until the "
        "bin is emptied."
    )
    offline_since: Timestamp | None = Field(
        description="When the death that made the bin offline arrived; null while online."
    )
    health: BinHealth | None = Field(description="The newest health report; null before one.")
    config_desired_version: DesiredVersion
    config_desired_at: DesiredAt
    config_reported_version: ReportedVersion
    config_reported_status: ReportedStatus
    config_reported_error: ReportedError


# Pydantic orders inherited fields from the last base to the first: the state comes
# first and the forecast last, as cloud_bridge.views.rows.bin_row writes them.
class Bin(ForecastBand, BinState):
    """A bin's state and forecast, so a scheduler sees which bins fill up and when."""


class ForecastDetail(ForecastBand):
    """A forecast with what it rests on (level now, readings, full level), to judge it by."""

    forecast_method: ForecastMethod = Field(description="How the forecast was made.")
    forecast_at: Timestamp = Field(description="When the forecast was made.")
    level_pct: float | None = Field(description="The estimated fill now, in %.")
    full_pct: float = Field(description="The fill that counts as full (the region's full_pct).")
    points: int = Field(description="How many readings the forecast used.")


class BinForecast(ResponseModel):
    """A bin's latest forecast: planners read when to send a crew."""

    bin_id: BinId
    forecast: ForecastDetail | None = Field(
        description="Null until the bridge has made a forecast for the bin."
    )


class BinManifest(ResponseModel):
    """What is in a bin now, so a crew knows what it will collect."""

    bin_id: BinId
    manifest: Manifest


class PickupManifest(ResponseModel):
    """What a pickup collects (of a collected pickup: what was collected)."""

    pickup_id: PickupId
    bin_id: BinId
    status: PickupStatus = Field(description="The pickup's status.")
    manifest: Manifest


class FillReading(ResponseModel):
    """One telemetry reading of a bin's fill, to chart its history and check its forecast."""

    seq: int = Field(description="The reading's seq.")
    ts: BinTime
    received_at: ReceivedAt
    clock_synced: ClockSynced
    at: Timestamp = Field(
        description="When it was taken as well as the bridge knows: ts when the clock was "
        "synchronised, else received_at (what from and to bound)."
    )
    fill_pct: FillPct
    weight_kg: WeightKg
    door: Door


class Deposit(ResponseModel):
    """One item put in a bin and the decision on it, to audit what the bins accept."""

    bin_id: BinId
    seq: int = Field(description="The event's seq.")
    deposit_id: str = Field(description="The bin's unique id of the deposit.")
    ts: BinTime
    received_at: ReceivedAt
    clock_synced: ClockSynced
    category: Category = Field(description="What the classifier saw.")
    confidence: float = Field(description="The classifier's confidence, 0 to 1.")
    accepted: bool = Field(description="Whether the bin took the item.")
    reason: str | None = Field(description="Why it was rejected; null when accepted.")
    weight_g: float = Field(description="The item's weight in g (0 when the scale had failed).")
    model: str = Field(description="The classifier model's version.")


class WebhookDelivery(ResponseModel):
    """One message for one webhook endpoint (its body left out), to see what receivers missed."""

    id: int = Field(description="The delivery's id (X-Revloop-Delivery).")
    endpoint: str = Field(description="The webhook endpoint's name.")
    kind: str = Field(description="What the body is: pickup or ticket.")
    key: str = Field(description="The pickup or ticket id it carries.")
    state: DeliveryState = Field(description="pending, delivered or dead (a dead letter).")
    attempts: int = Field(description="Attempts made so far.")
    created_at: Timestamp = Field(description="When it was queued.")
    next_attempt_at: Timestamp = Field(description="When it is due (while pending).")
    last_status: int | None = Field(
        description="HTTP status of the last attempt; null before one or without a response."
    )
    last_error: str | None = Field(description="Why the last attempt failed.")
    delivered_at: Timestamp | None = Field(description="When a receiver accepted it.")


class RetriedDelivery(ResponseModel):
    """A dead letter made pending again: it is sent anew, with a fresh count of attempts."""

    id: int = Field(description="The delivery's id.")
    state: Literal["pending"] = Field(description="Always pending: it will be sent again.")


class RemoteCommand(ResponseModel):
    """A command sent to a bin and the bin's answer, so a technician knows whether it ran."""

    id: str = Field(description="The command's id (the bin's answer carries it).")
    bin_id: BinId
    name: CommandName = Field(description="What the bin is told to do.")
    args: dict[str, Any] = Field(description="The command's arguments.")
    status: CommandStatus = Field(
        description="pending until the bin answers (ok or failed) or the answer is overdue "
        "(timed_out)."
    )
    issued_at: Timestamp = Field(description="When it was sent.")
    expires_at: Timestamp = Field(description="The bin refuses it from then on.")
    actor: str = Field(description="The name of the token that sent it.")
    result: dict[str, Any] | None = Field(description="The bin's result; null until it answers.")
    error: str | None = Field(description="The bin's error when it failed.")
    answered_at: Timestamp | None = Field(description="When the answer arrived.")
    timed_out_at: Timestamp | None = Field(
        description="When it was given up on (a late answer is still recorded)."
    )


class SentCommand(RemoteCommand):
    """A command just sent, and whether its bin can take it now."""

    bin_online: bool = Field(description="Whether the bin was online when it was sent.")
    warning: str | None = Field(
        description="Null while the bin is online; else that it is offline since when, and "
        "until when the command waits for it (expires_at) before it times out."
    )


class PushedVersion(ResponseModel):
    """The configuration version one bin was sent, to look for in its reports."""

    bin_id: BinId
    version: int = Field(description="The version pushed (one above the highest known).")
    issued_at: Timestamp = Field(description="When it was pushed.")


class ConfigPush(ResponseModel):
    """What a push sent: one retained, versioned message per bin."""

    pushed: list[PushedVersion] = Field(description="One entry per bin.")


class BinConfigStatus(ResponseModel):
    """Desired versus reported configuration of one bin, to find bins that did not apply it."""

    bin_id: BinId
    region: Region
    online: Online
    desired_version: DesiredVersion
    desired_at: DesiredAt
    reported_version: ReportedVersion
    reported_status: ReportedStatus
    reported_error: ReportedError
    reported_at: Timestamp | None = Field(description="When the bridge received that report.")
    config_version: RunningVersion
    state: ConfigState = Field(description="Where the bin stands with the version pushed last.")
    flagged: bool = Field(
        description="Whether it did not apply it (rejected, rolled_back or overdue)."
    )


class DesiredConfiguration(ResponseModel):
    """The configuration pushed to a bin last and by whom: what the bin should run."""

    bin_id: BinId
    version: int = Field(description="The version.")
    config: dict[str, Any] = Field(description="The overlay (intervals, thresholds, intake).")
    issued_at: Timestamp = Field(description="When it was pushed.")
    actor: str = Field(description="The name of the token that pushed it.")


class VehicleCapacity(ResponseModel):
    """What one vehicle of the region carries, which bounds each route's load."""

    volume_l: float = Field(description="Volume in litres.")
    kg: float = Field(description="Weight in kg.")


class PlannedStop(ResponseModel):
    """One stop of a vehicle's route, in the order the crew drives."""

    order: int = Field(description="Place in the route, from 1.")
    pickup_id: PickupId
    bin_id: BinId
    location: Point = Field(description="Where the bin stands.")
    leg_km: float = Field(description="Distance from the previous stop (or the depot) in km.")
    cumulative_km: float = Field(description="Distance from the depot in km.")
    eta: Timestamp = Field(description="Estimated arrival.")
    due_by: Timestamp = Field(description="The pickup's due time.")
    priority: PickupPriority = Field(description="The pickup's priority.")
    volume_l: float = Field(description="Volume collected here in litres.")
    kg: float = Field(description="Weight collected here in kg.")
    load_l: float = Field(description="The vehicle's load after this stop in litres.")
    load_kg: float = Field(description="The vehicle's load after this stop in kg.")


class VehicleRoute(ResponseModel):
    """A vehicle's stops in order, from the depot and back."""

    vehicle: int = Field(description="The vehicle's number in the region's fleet, from 1.")
    distance_km: float = Field(description="The whole route's distance in km.")
    back_at: Timestamp = Field(description="When the vehicle is back at the depot.")
    load_l: float = Field(description="Volume collected in litres.")
    load_kg: float = Field(description="Weight collected in kg.")
    stops: list[PlannedStop] = Field(description="The stops in order.")


class UnassignedPickup(ResponseModel):
    """An open pickup no vehicle takes, and why, for a scheduler to plan by hand."""

    pickup_id: PickupId
    bin_id: BinId
    reason: str = Field(
        description="e.g. larger than a vehicle's capacity, too far for the shift, due "
        "before a vehicle can reach it, no room, bin has no location."
    )


class RoutePlan(ResponseModel):
    """A region's open pickups batched into vehicle routes for the crews."""

    region: Region
    depot: Point = Field(description="Where the vehicles start and end.")
    start: Timestamp = Field(description="When the vehicles leave the depot.")
    capacity: VehicleCapacity = Field(description="What each vehicle carries.")
    solve_s: float = Field(description="Seconds the solver took.")
    time_limit_s: float = Field(description="Seconds the solver could search.")
    vehicles: list[VehicleRoute] = Field(description="The vehicles that have stops.")
    unassigned: list[UnassignedPickup] = Field(description="Pickups no vehicle takes.")


# Error bodies. The app's exception handlers (cloud_bridge.api.app) and FastAPI write
# them; these models only describe them in the OpenAPI document (cloud_bridge.api.
# responses attaches them per route), so integrators can parse an error as reliably as
# an answer.


def _no_default(schema: dict[str, Any]) -> None:
    """Drop a field's default from its schema: the key is then absent, never null or empty."""
    schema.pop("default", None)


class ErrorMessage(ResponseModel):
    """Why a request was refused, in one sentence (401, 403, 404, 409, 503).

    The status says what kind of refusal it is: a program branches on that, while
    ``detail`` is for people and logs.
    """

    detail: str = Field(
        description="What went wrong, e.g. 'missing bearer token', \"no bin 'bin-404'\", "
        "'cannot cancel pickup pk-1: it is collected', 'the bridge is not running'."
    )


class FieldError(ResponseModel):
    """One problem with the input: where it is, and why it was refused."""

    loc: list[str | int] = Field(
        description="Where: path, query or body, then the field (and, inside a body, the "
        "keys down to the bad one), e.g. ['query', 'from'] or ['body', 'config', 'intake', "
        "'min_confidence']; an integer is a position (an item's index, or where a body "
        "stopped being JSON)."
    )
    msg: str = Field(description="Why the value was refused, for people.")
    type: str = Field(
        description="The kind of error, for programs: pydantic's error type (e.g. "
        "string_pattern_mismatch, missing, json_invalid), or value_error for the bridge's "
        "own checks."
    )
    input: Any = Field(
        default=None,
        description="The value refused (absent from the errors of the bridge's own checks "
        "on actions and configuration overlays).",
        json_schema_extra=_no_default,
    )
    ctx: dict[str, Any] = Field(
        default_factory=dict,
        description="The constraint broken, e.g. {'pattern': ...} or {'ge': 1}; only on "
        "some of FastAPI's own errors.",
        json_schema_extra=_no_default,
    )


class ValidationErrors(ResponseModel):
    """Why the input was refused (422): every problem found, each naming its field.

    The shape is FastAPI's own; the bridge's checks that need the store or the clock
    (a schedule in the past, a bin's configuration schema, a command's limits) use it too.
    """

    detail: list[FieldError] = Field(description="One entry per problem.")
