"""Settings of the technicians' side of the bridge: ticket thresholds and remote commands.

Like every other section, unknown keys are errors and every number is bounded. The
ticket thresholds apply to every region unless ``[tickets.regions.NAME]`` changes
some of them (a region with poor coverage may want a longer offline grace, say).
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

_REGION = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_DAY_S = 86_400.0


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TicketPolicy(_Section):
    """When a bin's condition becomes a ticket (one region's thresholds)."""

    offline_grace_s: float = Field(
        default=300.0,
        ge=0.0,
        le=7 * _DAY_S,
        description="An offline bin gets a ticket once it has been offline this long "
        "(bridge time since the death that made it offline).",
    )
    storage_low_mb: float = Field(
        default=500.0,
        ge=0.0,
        le=1_000_000.0,
        description="Free disk below this (health disk_free_mb) opens storage_low.",
    )
    outbox_backlog_depth: int = Field(
        default=1000,
        ge=1,
        le=100_000_000,
        description="Unsent messages at or above this (health outbox_depth) is a backlog.",
    )
    outbox_backlog_age_s: float = Field(
        default=3600.0,
        ge=1.0,
        le=30 * _DAY_S,
        description="An oldest unsent message at least this old (outbox_oldest_s) is a backlog.",
    )
    outbox_backlog_for_s: float = Field(
        default=900.0,
        ge=0.0,
        le=7 * _DAY_S,
        description="A backlog opens outbox_backlog only after the bin's reports have shown "
        "it for this long (bridge time), so draining after an outage does not.",
    )
    drift_bound_g: float = Field(
        default=10.0,
        gt=0.0,
        le=10_000.0,
        description="An idle, empty tray weighing more than this (either sign) is drifting.",
    )
    drift_reports: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Health reports in a row beyond the bound open calibration_drift; as "
        "many within it resolve it.",
    )
    config_grace_s: float = Field(
        default=600.0,
        ge=0.0,
        le=30 * _DAY_S,
        description="A pushed configuration without an applied report after this long "
        "opens config_not_applied (a rejection or rollback opens it at once).",
    )


class TicketOverride(_Section):
    """Per-region changes to the ticket thresholds; unset keys inherit them."""

    offline_grace_s: float | None = Field(default=None, ge=0.0, le=7 * _DAY_S)
    storage_low_mb: float | None = Field(default=None, ge=0.0, le=1_000_000.0)
    outbox_backlog_depth: int | None = Field(default=None, ge=1, le=100_000_000)
    outbox_backlog_age_s: float | None = Field(default=None, ge=1.0, le=30 * _DAY_S)
    outbox_backlog_for_s: float | None = Field(default=None, ge=0.0, le=7 * _DAY_S)
    drift_bound_g: float | None = Field(default=None, gt=0.0, le=10_000.0)
    drift_reports: int | None = Field(default=None, ge=1, le=100)
    config_grace_s: float | None = Field(default=None, ge=0.0, le=30 * _DAY_S)


class TicketSettings(TicketPolicy):
    """The ticket thresholds of every region, and the regions that change some."""

    regions: dict[Annotated[str, StringConstraints(pattern=_REGION)], TicketOverride] = Field(
        default_factory=dict, description="Per-region changes to the ticket thresholds."
    )

    def policy(self, region: str) -> TicketPolicy:
        """The thresholds in force in ``region``."""
        base = TicketPolicy.model_validate(self.model_dump(exclude={"regions"}))
        override = self.regions.get(region)
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_none=True))


class CommandSettings(_Section):
    """Lifetimes of remote commands."""

    default_ttl_s: float = Field(
        default=60.0, ge=1.0, le=7 * _DAY_S, description="Lifetime of a command when none is given."
    )
    max_ttl_s: float = Field(
        default=_DAY_S, ge=1.0, le=30 * _DAY_S, description="Longest lifetime a caller may ask."
    )
    result_grace_s: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="A command still unanswered this long after it expired is timed out "
        "(its answer may be on its way: a bin takes a command up to its expiry).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.default_ttl_s > self.max_ttl_s:
            raise ValueError(
                f"default_ttl_s ({self.default_ttl_s}) exceeds max_ttl_s ({self.max_ttl_s})"
            )
        return self
