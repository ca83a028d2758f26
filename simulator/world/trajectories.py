"""Fill trajectories of one bin without running its agent: for forecast tests and benchmarks.

The bin gets the world of :mod:`simulator.world.arrivals`: visitors arriving as a Poisson
process with the daily and weekly rhythm, one to three items each with log-normal
bulk volumes, a popularity factor per bin. A noisy sensor reads the container every
``telemetry_s`` (Gaussian noise of ``noise_pct`` % fill; a share ``outliers`` of the
readings replaced by a wall echo anywhere in 0-100 % or by 0 %). When the true fill
reaches ``full_pct`` the door locks (visitors are turned away) and a crew empties
the bin 2-12 h later. Fill readings carry no deposit events' detail: only what the
forecast needs (reading times and values, deposit times, locked spans, true full times).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from simulator.world.arrivals import ArrivalProcess, ItemCatalog

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SensorModel:
    """A noisy ultrasonic fill sensor: Gaussian noise of ``noise_pct`` % fill, and a share
    ``outliers`` of wild readings, half a wall echo anywhere in 0-100 %, half 0 % (no echo).

    One model for the forecast's benchmark (one bin, :func:`simulate_bin`) and the city
    (:mod:`simulator.city`, many bins at once from pre-drawn numbers), so both see the same
    sensor.
    """

    noise_pct: float = 1.5
    outliers: float = 0.03

    def read(self, rng: random.Random, true_pct: float) -> float:
        """One reading of a container whose true fill is ``true_pct``."""
        draw = rng.random()
        if draw < self.outliers / 2:
            return rng.uniform(0.0, 100.0)
        if draw < self.outliers:
            return 0.0
        return min(max(true_pct + rng.gauss(0.0, self.noise_pct), 0.0), 100.0)

    def read_many(
        self, true_pct: FloatArray, draw: FloatArray, echo: FloatArray, gauss: FloatArray
    ) -> FloatArray:
        """Readings of many containers at once from pre-drawn numbers: ``draw`` and
        ``echo`` uniform in [0, 1), ``gauss`` standard normal, one of each per reading."""
        reading = np.clip(true_pct + gauss * self.noise_pct, 0.0, 100.0)
        reading = np.where(draw < self.outliers, 0.0, reading)
        result: FloatArray = np.where(draw < self.outliers / 2, echo * 100.0, reading)
        return result


@dataclass(frozen=True, slots=True)
class Reading:
    """One sensor reading."""

    at: datetime
    fill_pct: float


START = datetime(2026, 9, 7, 0, 0, tzinfo=UTC)  # a Monday


@dataclass
class Cycle:
    """One fill cycle of one bin: its readings and when it was really full."""

    emptied_at: datetime
    full_at: datetime | None = None
    readings: list[Reading] = field(default_factory=list)


@dataclass
class Trajectory:
    """A bin's simulated life: its deposit times and its fill cycles."""

    deposits: list[datetime]
    cycles: list[Cycle]
    locked: list[tuple[datetime, datetime]]
    """When the door was locked (full, waiting for the crew)."""


def simulate_bin(
    seed: int,
    days: float,
    *,
    full_pct: float,
    noise_pct: float,
    outliers: float,
    volume_l: float = 240.0,
    peak_per_hour: float = 8.0,
    telemetry_s: float = 300.0,
) -> Trajectory:
    """One bin's readings and true full times."""
    rng = random.Random(seed)
    sensor = SensorModel(noise_pct, outliers)
    popularity = math.exp(rng.gauss(0, 0.35))
    arrivals = ArrivalProcess(rng, peak_per_hour, popularity)
    catalog = ItemCatalog(rng)
    end = START + timedelta(days=days)
    deposits: list[datetime] = []
    cycles = [Cycle(emptied_at=START)]
    contents = 0.0
    locked_until: datetime | None = None
    locked_since = START
    locked: list[tuple[datetime, datetime]] = []
    now = START
    next_visit = now + timedelta(seconds=arrivals.next_after(now))
    next_reading = now
    while now < end:
        if next_reading <= next_visit:
            now = next_reading
            next_reading = now + timedelta(seconds=telemetry_s)
            if locked_until is not None and now >= locked_until:
                locked.append((locked_since, now))
                contents = 0.0
                locked_until = None
                cycles.append(Cycle(emptied_at=now))
            true = min(contents / volume_l * 100.0, 100.0)
            cycles[-1].readings.append(Reading(now, sensor.read(rng, true)))
            continue
        now = next_visit
        next_visit = now + timedelta(seconds=arrivals.next_after(now))
        if locked_until is not None:
            continue  # the door is locked: visitors are turned away
        for _ in range(arrivals.items_per_visit()):
            item = catalog.draw()
            if rng.random() < 0.08:
                continue  # rejected by the bin
            contents += item.volume_l
            deposits.append(now)
        if contents / volume_l * 100.0 >= full_pct and cycles[-1].full_at is None:
            cycles[-1].full_at = now
            locked_since = now
            locked_until = now + timedelta(hours=rng.uniform(2.0, 12.0))
    if locked_until is not None:
        locked.append((locked_since, end))
    return Trajectory(deposits=deposits, cycles=cycles, locked=locked)
