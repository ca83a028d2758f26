"""The bridge's settings: :class:`BridgeSettings`, made of one section per module of this
package, and the one loader of the TOML file.

Every section derives from :class:`cloud_bridge.config.base.Section`, so a misspelt or
out-of-range key in the file is an error that names it (with a guess at the key that
was meant). Secrets never live in the file: the sections read them from the
environment variables they name, when they are needed.

The sections' classes that this module defined before they had modules of their own
are still importable from here.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, Field, ValidationError, model_validator

from cloud_bridge.config.api import ApiSettings
from cloud_bridge.config.base import REGION_PATTERN, Region, Section
from cloud_bridge.config.broker import BrokerAddress, BrokerSettings, parse_broker_url
from cloud_bridge.config.commands import CommandSettings
from cloud_bridge.config.facilities import FacilitySettings
from cloud_bridge.config.forecast import ForecastSettings
from cloud_bridge.config.ingest import IngestSettings
from cloud_bridge.config.pickups import RegionOverride, RegionSettings
from cloud_bridge.config.remote_config import RemoteConfigSettings
from cloud_bridge.config.routing import RoutingSettings
from cloud_bridge.config.store import StoreSettings
from cloud_bridge.config.tickets import TicketOverride, TicketSettings
from cloud_bridge.config.timers import TimerSettings
from cloud_bridge.config.web import WebSettings
from cloud_bridge.config.webhooks import DeliverySettings, WebhookEndpoint
from cloud_bridge.errors import SettingsError

__all__ = [
    "REGION_PATTERN",
    "BridgeSettings",
    "BrokerAddress",
    "BrokerSettings",
    "IngestSettings",
    "Region",
    "RegionOverride",
    "RegionSettings",
    "Section",
    "StoreSettings",
    "load_settings",
    "parse_broker_url",
    "validate_settings",
]


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
    web: WebSettings = Field(
        default_factory=WebSettings, description="The web dashboard (served on api.port)."
    )
    routing: RoutingSettings = Field(
        default_factory=RoutingSettings, description="Depots and vehicles for route planning."
    )
    tickets: TicketSettings = Field(
        default_factory=TicketSettings, description="When bins' conditions become tickets."
    )
    commands: CommandSettings = Field(
        default_factory=CommandSettings, description="Lifetimes of remote commands."
    )
    remote_config: RemoteConfigSettings = Field(
        default_factory=RemoteConfigSettings,
        description="Retained desired configurations the bridge did not issue.",
    )
    facilities: FacilitySettings = Field(
        default_factory=FacilitySettings,
        description="Receiving facilities, reconciliation and impact (docs/facility.md).",
    )

    @model_validator(mode="after")
    def _unique_webhook_names(self) -> Self:
        names = [endpoint.name for endpoint in self.webhooks]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"webhooks: names must be unique, repeated: {', '.join(duplicates)}")
        return self

    @model_validator(mode="after")
    def _token_facilities_exist(self) -> Self:
        known = {site.id for site in self.facilities.sites}
        for token in self.api.tokens:
            unknown = sorted(set(token.facilities or ()) - known)
            if unknown:
                raise ValueError(
                    f"api.tokens.{token.name}.facilities: no facility {', '.join(unknown)} "
                    "in facilities.sites"
                )
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
    factors = settings.facilities.emission_factors
    if factors is not None and not factors.expanduser().is_absolute():
        factors = path.resolve().parent / factors
    return settings.model_copy(
        update={
            "store": settings.store.model_copy(update={"path": store_path}),
            "facilities": settings.facilities.model_copy(update={"emission_factors": factors}),
        }
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
