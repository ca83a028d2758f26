"""The bridge's settings: broker, store, ingest, per-region pickup policy and the rest.

Every section forbids unknown keys and bounds every number, so a misspelt or
out-of-range key in the TOML file is an error that names it. Secrets never live in
the file: the broker password is read from the environment variable it names, when
connecting.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from cloud_bridge.config.services import (
    ApiSettings,
    DeliverySettings,
    ForecastSettings,
    RoutingSettings,
    TimerSettings,
    WebhookEndpoint,
)
from cloud_bridge.config.technicians import CommandSettings, TicketOverride, TicketSettings
from cloud_bridge.errors import BrokerUrlError, SettingsError
from protocol.transport import BrokerUrl
from protocol.transport import parse_broker_url as parse_url

REGION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]


BrokerAddress = BrokerUrl
"""Where the broker listens (the protocol package's broker URL type)."""


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse ``mqtt://HOST[:PORT]`` or ``mqtts://HOST[:PORT]``; errors name the bad part."""
    try:
        return parse_url(url)
    except ValueError as err:
        raise BrokerUrlError(str(err)) from None


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
        pattern=r"^[A-Z_][A-Z0-9_]*$",
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


class StoreSettings(Section):
    """Where and how the bridge keeps its data."""

    path: Path = Field(default=Path("bridge.db"), description="SQLite database file.")
    synchronous: Literal["NORMAL", "FULL"] = Field(
        default="FULL",
        description=(
            "SQLite synchronous mode in WAL: NORMAL survives process crashes (a power "
            "loss can lose the last commits, which the broker then redelivers only if "
            "they were not yet acknowledged); FULL also survives power loss, slower."
        ),
    )

    wal_autocheckpoint_pages: int = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description=(
            "WAL pages (4 KiB) after which a commit checkpoints into the database file; "
            "SQLite's default of 1,000 checkpoints (and syncs) every few batches."
        ),
    )


class IngestSettings(Section):
    """How received messages are written."""

    batch_max: int = Field(
        default=1000, ge=1, le=100_000, description="Most messages committed in one transaction."
    )
    queue_max: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description=(
            "Most received messages waiting for the writer. Beyond it QoS 0 messages are "
            "dropped and counted as 'overload' (a flood cannot exhaust memory); QoS 1 "
            "messages are bounded by the broker's in-flight window instead."
        ),
    )
    retry_delay_s: float = Field(
        default=1.0, ge=0.01, le=300.0, description="Wait before retrying a failed commit."
    )
    rejection_logs_per_minute: int = Field(
        default=20,
        ge=0,
        le=10_000,
        description="Most rejection warnings logged per reason per minute (the rest are counted).",
    )


class RegionSettings(Section):
    """Pickup policy of one logistics region."""

    pickup_threshold_pct: float = Field(
        default=80.0, gt=0.0, le=100.0, description="Fill at or above which a pickup is raised."
    )
    due_hours: float = Field(
        default=24.0, gt=0.0, le=24.0 * 60, description="Time from a request to its due_by."
    )
    high_priority_due_hours: float = Field(
        default=4.0, gt=0.0, le=24.0 * 60, description="due_by of a high-priority request."
    )
    republish_fill_step_pct: float = Field(
        default=5.0,
        gt=0.0,
        le=100.0,
        description="An open pickup is republished when fill moved this much since it was sent.",
    )
    manifest_republish_min_s: float = Field(
        default=3600.0,
        ge=0.0,
        le=86_400.0,
        description="Least time between republishes caused only by a changed manifest.",
    )
    emptied_below_pct: float = Field(
        default=20.0,
        ge=0.0,
        lt=100.0,
        description="Fill at or below which, after a drop, the bin counts as emptied.",
    )
    emptied_drop_pct: float = Field(
        default=30.0,
        gt=0.0,
        le=100.0,
        description="Least fall of fill (from the pickup's fill) that counts as emptying.",
    )
    emptied_confirm_readings: int = Field(
        default=2,
        ge=1,
        le=10,
        description=(
            "Readings in a row that must show the drop before it counts as emptying, so "
            "one wild low reading never collects a pickup."
        ),
    )
    full_pct: float = Field(
        default=95.0,
        gt=0.0,
        le=100.0,
        description=(
            "Fill that counts as full for forecasts (the bins lock their door at 95 % by "
            "default and take nothing more)."
        ),
    )
    lead_time_hours: float = Field(
        default=24.0,
        ge=0.0,
        le=24.0 * 30,
        description="A pickup is requested when the bin is predicted full within this time.",
    )
    threshold_hysteresis_pct: float = Field(
        default=5.0,
        ge=0.0,
        le=50.0,
        description=(
            "Fill must fall this far under the threshold before a new crossing counts, so "
            "noise around the threshold does not republish the pickup."
        ),
    )
    fill_median_readings: int = Field(
        default=1,
        ge=1,
        le=15,
        description=(
            "Threshold crossings, hysteresis and the published fill use the median of the "
            "bin's last this many readings. 1 (default) decides on each reading as the bin "
            "reports it (already the median of its sensor's pings); 3 or more keeps one "
            "noisy spike from opening a pickup where sensors are known to be noisy."
        ),
    )
    urgent_due_hours: float = Field(
        default=1.0, gt=0.0, le=24.0 * 60, description="due_by of an urgent (fire) request."
    )
    due_by_forecast: Literal["low", "predicted"] = Field(
        default="low",
        description=(
            "Which forecast time brings due_by forward: 'low', the early end of the band "
            "(p10: the bin is full by then one time in ten), or 'predicted', the median "
            "(full by then one time in two)."
        ),
    )
    forecast_republish_hours: float = Field(
        default=2.0,
        gt=0.0,
        le=24.0 * 30,
        description="An open pickup is republished when its predicted full time moved this much.",
    )
    forecast_request_min_hours: float = Field(
        default=6.0,
        ge=0.0,
        le=24.0 * 7,
        description=(
            "Without a learned rhythm, a forecast requests a pickup only once its readings "
            "span this long (a few daytime hours extrapolated overestimate the rate)."
        ),
    )


class RegionOverride(Section):
    """Per-region changes to the default pickup policy; unset keys inherit it."""

    pickup_threshold_pct: float | None = Field(default=None, gt=0.0, le=100.0)
    due_hours: float | None = Field(default=None, gt=0.0, le=24.0 * 60)
    high_priority_due_hours: float | None = Field(default=None, gt=0.0, le=24.0 * 60)
    republish_fill_step_pct: float | None = Field(default=None, gt=0.0, le=100.0)
    manifest_republish_min_s: float | None = Field(default=None, ge=0.0, le=86_400.0)
    emptied_below_pct: float | None = Field(default=None, ge=0.0, lt=100.0)
    emptied_drop_pct: float | None = Field(default=None, gt=0.0, le=100.0)
    emptied_confirm_readings: int | None = Field(default=None, ge=1, le=10)
    full_pct: float | None = Field(default=None, gt=0.0, le=100.0)
    due_by_forecast: Literal["low", "predicted"] | None = None
    lead_time_hours: float | None = Field(default=None, ge=0.0, le=24.0 * 30)
    threshold_hysteresis_pct: float | None = Field(default=None, ge=0.0, le=50.0)
    fill_median_readings: int | None = Field(default=None, ge=1, le=15)
    urgent_due_hours: float | None = Field(default=None, gt=0.0, le=24.0 * 60)
    forecast_republish_hours: float | None = Field(default=None, gt=0.0, le=24.0 * 30)
    forecast_request_min_hours: float | None = Field(default=None, ge=0.0, le=24.0 * 7)


class BridgeSettings(Section):
    """Everything the bridge needs to run."""

    broker: BrokerSettings = Field(default_factory=BrokerSettings, description="MQTT.")
    store: StoreSettings = Field(default_factory=StoreSettings, description="Storage.")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Writing.")
    default_region: Region = Field(
        default="default", description="Region of a bin that has not announced one."
    )
    pickups: RegionSettings = Field(
        default_factory=RegionSettings, description="Pickup policy of every region."
    )
    regions: dict[Region, RegionOverride] = Field(
        default_factory=dict, description="Per-region changes to the pickup policy."
    )
    forecast: ForecastSettings = Field(
        default_factory=ForecastSettings, description="Fill forecasts."
    )
    timers: TimerSettings = Field(
        default_factory=TimerSettings, description="Periodic policy work (escalation, forecasts)."
    )
    webhooks: list[WebhookEndpoint] = Field(
        default_factory=list, description="Endpoints that receive fleet messages by HTTP POST."
    )
    delivery: DeliverySettings = Field(
        default_factory=DeliverySettings, description="Webhook retries and dead letters."
    )
    api: ApiSettings = Field(default_factory=ApiSettings, description="The REST API.")
    routing: RoutingSettings = Field(
        default_factory=RoutingSettings, description="Depots and vehicles for route planning."
    )
    tickets: TicketSettings = Field(
        default_factory=TicketSettings, description="When bins' conditions become tickets."
    )
    commands: CommandSettings = Field(
        default_factory=CommandSettings, description="Lifetimes of remote commands."
    )

    @model_validator(mode="after")
    def _unique_webhook_names(self) -> Self:
        names = [endpoint.name for endpoint in self.webhooks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"webhooks: names must be unique, repeated: {', '.join(duplicates)}")
        return self

    def region(self, name: str) -> RegionSettings:
        """The pickup policy in force for region ``name``."""
        override = self.regions.get(name)
        if override is None:
            return self.pickups
        changes = override.model_dump(exclude_none=True)
        return self.pickups.model_copy(update=changes)


def load_settings(path: Path | str) -> BridgeSettings:
    """Read a TOML settings file; raise :class:`SettingsError` naming every bad key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingsError(str(path), [f"(file): {err.strerror or err}"]) from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(str(path), [f"(toml): {err}"]) from None
    settings = validate_settings(data, source=str(path))
    store_path = settings.store.path.expanduser()
    if not store_path.is_absolute():
        store_path = path.resolve().parent / store_path
    return settings.model_copy(
        update={"store": settings.store.model_copy(update={"path": store_path})}
    )


def validate_settings(data: dict[str, Any], *, source: str = "<settings>") -> BridgeSettings:
    """Validate a settings mapping; errors carry the dotted key path."""
    try:
        return BridgeSettings.model_validate(data)
    except ValidationError as err:
        raise SettingsError(source, [_issue(item) for item in err.errors()]) from None


def _issue(item: Any) -> str:
    loc = [str(part) for part in item["loc"] if not _is_tag(part)]
    path = ".".join(loc) or "(root)"
    message = str(item["msg"])
    if item["type"] == "extra_forbidden":
        message = "unknown key"
        guess = _did_you_mean(loc)
        if guess:
            message += f"; did you mean '{guess}'?"
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{path}: {message}"


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("constrained-"))


def _did_you_mean(loc: list[str]) -> str | None:
    if len(loc) == 3 and loc[0] == "regions":
        model: type[BaseModel] | None = RegionOverride
    elif len(loc) == 4 and loc[:2] == ["tickets", "regions"]:
        model = TicketOverride
    else:
        model = BridgeSettings
        for part in loc[:-1]:
            field = model.model_fields.get(part) if model is not None else None
            annotation = field.annotation if field else None
            model = (
                annotation
                if isinstance(annotation, type) and issubclass(annotation, BaseModel)
                else None
            )
    if model is None:
        return None
    matches = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return matches[0] if matches else None
