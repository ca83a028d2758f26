"""What the bins' fill sensors read and what their agents report.

Every ``sample_s`` each bin measures its fill with the world's noisy sensor
(:class:`simulator.world.trajectories.SensorModel`, pre-drawn in the world so every policy
sees the same noise); a failed sensor reads nothing. Like the agent
(:mod:`agent.runtime.core`), a bin reports telemetry when the reading moved
``report_step_pct`` since its last report (``thresholds.report_fill_step_pct``, 5 by
default) and otherwise every ``heartbeat_s`` (``intervals.telemetry_s``): a battery
sensor's cadence, and what the bridge sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.city.world import BoolArray, CityWorld, FloatArray


@dataclass(frozen=True, slots=True)
class ReportingOptions:
    """When a city bin reports its fill."""

    report_step_pct: float = 5.0
    heartbeat_s: float = 6 * 3600.0
    """At least four reports a day: a battery sensor's budget. Against every 3 hours the
    city's figures moved by under 3 % and the bridge's work fell by a quarter."""


@dataclass(frozen=True, slots=True)
class Readings:
    """One round of readings: every bin's reading (NaN where its sensor failed) and which
    bins report it."""

    at: float
    sample: int
    fill_pct: FloatArray
    reports: BoolArray


class Reporter:
    """The bins' readings and the agents' decisions to report them, round by round."""

    def __init__(self, world: CityWorld, options: ReportingOptions) -> None:
        self.world = world
        self.options = options
        self.last: FloatArray = np.full(world.size, np.nan)
        """Each bin's last reported fill (NaN: none, or a failed sensor's)."""
        self.last_at: FloatArray = np.full(world.size, -np.inf)

    def read(self, sample: int, at: float, true_pct: FloatArray) -> Readings:
        """The readings of round ``sample`` (taken at ``at``) of bins whose true fill is
        ``true_pct``, and which of them are reported."""
        world = self.world
        reading = world.options.sensor.read_many(
            true_pct, world.draw[:, sample], world.echo[:, sample], world.gauss[:, sample]
        )
        reading = np.where(world.sensor_ok[:, sample], np.round(reading, 1), np.nan)
        valid = ~np.isnan(reading)
        moved = valid & (
            np.isnan(self.last) | (np.abs(reading - self.last) >= self.options.report_step_pct)
        )
        due = at - self.last_at >= self.options.heartbeat_s
        reports = moved | due
        self.last = np.where(reports, reading, self.last)
        self.last_at = np.where(reports, at, self.last_at)
        return Readings(at, sample, reading, reports)
