"""When bins' conditions become tickets: thresholds for every region, and
``[tickets.regions.NAME]`` for the regions that change some of them (a region with
poor coverage may want a longer offline grace, say).
"""

from __future__ import annotations

from pydantic import Field

from cloud_bridge.config.base import DAY_S, Region, Section


class TicketPolicy(Section):
    """When a bin's condition becomes a ticket (one region's thresholds)."""

    offline_grace_s: float = Field(
        default=300.0,
        ge=0.0,
        le=7 * DAY_S,
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
        le=30 * DAY_S,
        description="An oldest unsent message at least this old (outbox_oldest_s) is a backlog.",
    )
    outbox_backlog_for_s: float = Field(
        default=900.0,
        ge=0.0,
        le=7 * DAY_S,
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
        le=30 * DAY_S,
        description="A pushed configuration without an applied report after this long "
        "opens config_not_applied (a rejection or rollback opens it at once).",
    )


class TicketOverride(Section):
    """Per-region changes to the ticket thresholds; unset keys inherit them."""

    offline_grace_s: float | None = Field(default=None, ge=0.0, le=7 * DAY_S)
    storage_low_mb: float | None = Field(default=None, ge=0.0, le=1_000_000.0)
    outbox_backlog_depth: int | None = Field(default=None, ge=1, le=100_000_000)
    outbox_backlog_age_s: float | None = Field(default=None, ge=1.0, le=30 * DAY_S)
    outbox_backlog_for_s: float | None = Field(default=None, ge=0.0, le=7 * DAY_S)
    drift_bound_g: float | None = Field(default=None, gt=0.0, le=10_000.0)
    drift_reports: int | None = Field(default=None, ge=1, le=100)
    config_grace_s: float | None = Field(default=None, ge=0.0, le=30 * DAY_S)


class TicketSettings(TicketPolicy):
    """The ticket thresholds of every region, and the regions that change some."""

    regions: dict[Region, TicketOverride] = Field(
        default_factory=dict, description="Per-region changes to the ticket thresholds."
    )

    def policy(self, region: str) -> TicketPolicy:
        """The thresholds in force in ``region``."""
        base = TicketPolicy.model_validate(self.model_dump(exclude={"regions"}))
        override = self.regions.get(region)
        if override is None:
            return base
        return base.model_copy(update=override.model_dump(exclude_none=True))
