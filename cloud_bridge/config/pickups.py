"""The pickup policy: ``[pickups]`` for every region, ``[regions.NAME]`` for one region's
changes (unset keys inherit the default policy).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cloud_bridge.config.base import Section


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
