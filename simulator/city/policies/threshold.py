"""``threshold``: collect a bin at the next shift once it reported a fill over the threshold.

What a sensor dashboard alone gives a city: a bin whose reported fill reached the
region's ``pickup_threshold_pct`` (the bridge's default policy, 80 %) is put on the next
shift's round, with the fill it reported. Nothing looks ahead: a bin crossing the
threshold at noon waits for tomorrow's shift, and a wild reading counts like any other.
"""

from __future__ import annotations

import numpy as np

from cloud_bridge.config.pickups import RegionSettings
from cloud_bridge.planning.routes import RouteStop
from simulator.city.book import Collection
from simulator.city.crews import Visit
from simulator.city.policies.base import Policy, RunContext
from simulator.city.sensors import Readings
from simulator.city.world import BoolArray, FloatArray, IntArray


class ThresholdPolicy(Policy):
    """A pickup when a reported fill crosses the threshold; collected at the next shift."""

    name = "threshold"

    def __init__(self, context: RunContext, *, threshold_pct: float | None = None) -> None:
        super().__init__(context)
        self.threshold_pct = (
            RegionSettings().pickup_threshold_pct if threshold_pct is None else threshold_pct
        )
        self.requested: BoolArray = np.zeros(self.world.size, dtype=np.bool_)
        self.fill: FloatArray = np.zeros(self.world.size)
        """The fill each bin reported when its pickup was requested."""

    def observe(self, readings: Readings, deposits: IntArray) -> None:
        """Request a pickup for each bin that reported a fill at or over the threshold."""
        crossed = readings.reports & (np.nan_to_num(readings.fill_pct) >= self.threshold_pct)
        new = crossed & ~self.requested
        self.fill = np.where(new, readings.fill_pct, self.fill)
        self.requested |= crossed

    def stops(self, day: int) -> list[RouteStop]:
        """Every bin with a requested pickup, with the volume it reported."""
        due = self.crews.shift_end(day)
        container = self.world.container_l
        return [
            self.crews.stop(
                int(i), f"threshold-{day}-{i}", float(container[i] * self.fill[i] / 100), due
            )
            for i in np.flatnonzero(self.requested)
        ]

    def emptied(self, visit: Visit, collection: Collection) -> None:
        """The pickup is done."""
        self.requested[visit.bin] = False
