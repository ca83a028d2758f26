"""How often fill forecasts are made and when a bin's deposit rhythm is learned."""

from __future__ import annotations

from pydantic import Field

from cloud_bridge.config.base import Section


class ForecastSettings(Section):
    """How often fill forecasts are made and when a bin's rhythm is learned."""

    interval_s: float = Field(
        default=900.0,
        ge=0.0,
        le=86_400.0,
        description="Least bridge time between two forecasts of one bin (each new reading "
        "marks the bin for the next tick).",
    )
    history_days: float = Field(
        default=30.0,
        ge=1.0,
        le=365.0,
        description="A forecast reads the readings since the bin's last emptying, but none "
        "older than this (a bin never seen emptied would otherwise be read from its first "
        "reading at every forecast).",
    )
    profile_refresh_hours: float = Field(
        default=6.0,
        gt=0.0,
        le=24.0 * 7,
        description="How often a bin's deposit rhythm is relearned.",
    )
    profile_window_days: float = Field(
        default=28.0, ge=1.0, le=365.0, description="Deposits of this many days make the rhythm."
    )
    profile_min_events: int = Field(
        default=50, ge=1, le=1_000_000, description="Deposits needed before a rhythm is used."
    )
    daily_after_days: float = Field(
        default=2.0, ge=0.5, le=365.0, description="History needed for the daily rhythm."
    )
    weekly_after_days: float = Field(
        default=14.0, ge=1.0, le=365.0, description="History needed for the weekly rhythm."
    )
