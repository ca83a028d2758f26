"""The city: where its bins stand, how big they are, who fills them and what the sensors read.

Everything here is drawn once per seed, before any policy runs, so every policy meets the
same world: the same visitors at the same times with the same litres, the same sensor
noise, wild readings and failures. Each bin draws from its own generator
(``numpy.random.default_rng([seed, index])``), so bin 17 is the same bin in a city of
100 and in one of 5,000; the city-wide weather of each day has a generator of its own.

- **Bins**: mixed containers (120 L and 240 L street bins, 1,100 L containers), placed
  over a ``width_km`` x ``height_km`` city, ``core_share`` of them around the centre.
  Each has a popularity, expressed as its mean time to fill (log-normal across bins).
- **Visitors** arrive as a Poisson process with the world model's hour-of-day and
  weekday rhythm (:mod:`simulator.world.arrivals`), times a city-wide factor per day
  (weather, events) and a factor per bin and day (log-normal, mean 1). Each drops a
  log-normal volume: a few litres in a street bin, a household bag in a container.
  A visitor who finds the bin full (at ``full_pct``, where a Revloop bin locks its door)
  goes away: that is an overflow.
- **Sensors** are read every ``sample_s`` with the noise and wild readings of
  :class:`simulator.world.trajectories.SensorModel`; a sensor also fails now and then
  (``outage_per_bin_day``) and reads nothing for 6 to 72 hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from simulator.world.arrivals import HOURLY_PROFILE, WEEKDAY_PROFILE
from simulator.world.trajectories import START, SensorModel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DAY_S = 86_400.0
HOUR_S = 3_600.0
KM_PER_DEG_LAT = 111.32
CITY_STREAM = 1 << 30
"""Seed-sequence key of the city-wide generator (no bin has this index)."""


@dataclass(frozen=True, slots=True)
class Container:
    """A kind of container and what people put in it."""

    litres: float
    share: float
    drop_median_l: float
    """Median volume one visitor drops (log-normal)."""
    drop_sigma: float = 0.6

    @property
    def drop_mean_l(self) -> float:
        """Mean volume of one drop."""
        return self.drop_median_l * math.exp(self.drop_sigma**2 / 2)


CONTAINERS: tuple[Container, ...] = (
    Container(120.0, 0.30, 2.5),
    Container(240.0, 0.50, 2.5),
    Container(1100.0, 0.20, 15.0, 0.5),
)


@dataclass(frozen=True, slots=True)
class WorldOptions:
    """What city to build (the defaults are the benchmark's city)."""

    bins: int = 1000
    days: float = 30.0
    seed: int = 7
    width_km: float = 14.0
    height_km: float = 10.0
    centre: tuple[float, float] = (52.5200, 13.4050)
    depot_offset_km: tuple[float, float] = (5.0, -3.0)
    """The depot, east and north of the centre (an industrial estate at the edge)."""
    core_share: float = 0.6
    core_sd_km: float = 2.0
    containers: tuple[Container, ...] = CONTAINERS
    median_days_to_full: float = 7.0
    days_to_full_sigma: float = 1.0
    """From bins a busy square fills daily to park bins that take a month (5-95 %: 1.4
    to 36 days)."""
    days_to_full_range: tuple[float, float] = (1.0, 42.0)
    city_day_sigma: float = 0.15
    bin_day_sigma: float = 0.25
    initial_fill_pct: tuple[float, float] = (0.0, 60.0)
    full_pct: float = 95.0
    sample_s: float = 1800.0
    sensor: SensorModel = field(default_factory=SensorModel)
    outage_per_bin_day: float = 0.005
    outage_hours: tuple[float, float] = (6.0, 72.0)
    kg_per_l: float = 0.12
    """Density of loose waste in a bin (for vehicles' payload and deposits' weight)."""

    @property
    def samples(self) -> int:
        """Sensor readings per bin over the run."""
        return int(self.days * DAY_S // self.sample_s)


def week_shape() -> FloatArray:
    """Relative visitor rate per hour of the week (Monday 00:00 first), mean 1."""
    shape = np.array(
        [WEEKDAY_PROFILE[h // 24] * HOURLY_PROFILE[h % 24] for h in range(168)], dtype=np.float64
    )
    result: FloatArray = shape / shape.mean()
    return result


@dataclass
class CityWorld:
    """One seeded city: its bins (one entry per bin in each array), their deposits
    (flat, bin after bin, each bin's in time order) and their sensors' draws."""

    options: WorldOptions
    bin_ids: list[str]
    lat: FloatArray
    lon: FloatArray
    container_l: FloatArray
    litres_per_day: FloatArray
    """Mean litres dropped per day, over a week (the popularity)."""
    initial_l: FloatArray
    depot: tuple[float, float]
    dep_t: FloatArray
    """Deposit (visitor) times, seconds after :data:`START`."""
    dep_l: FloatArray
    dep_bin: IntArray
    first: IntArray
    """Index of each bin's first deposit in the flat arrays (``first[i + 1]`` ends it)."""
    draw: FloatArray
    echo: FloatArray
    gauss: FloatArray
    sensor_ok: BoolArray
    """Whether each bin's sensor works at each reading, shape (bins, samples)."""

    @property
    def size(self) -> int:
        """Number of bins."""
        return len(self.bin_ids)

    @property
    def full_l(self) -> FloatArray:
        """Litres at which each bin is full (locks, turns visitors away)."""
        result: FloatArray = self.container_l * self.options.full_pct / 100.0
        return result

    def expected_litres_per_hour(self, index: int) -> FloatArray:
        """The bin's mean litres per hour of the week (what a city knows from experience)."""
        result: FloatArray = week_shape() * self.litres_per_day[index] / 24.0
        return result


def at(seconds: float) -> datetime:
    """Simulated time as a datetime (UTC, the world's clock; local time in this city)."""
    return START + timedelta(seconds=seconds)


def build_world(options: WorldOptions) -> CityWorld:
    """Draw the city of ``options.seed``."""
    city = np.random.default_rng([options.seed, CITY_STREAM])
    days = math.ceil(options.days) + 1
    city_day = _lognormal_mean_one(city, options.city_day_sigma, days)
    shape = week_shape()
    hours = math.ceil(options.days * 24)
    hour_shape = shape[np.arange(hours) % 168]
    lat0, lon0 = options.centre
    km_per_deg_lon = KM_PER_DEG_LAT * math.cos(math.radians(lat0))
    shares = np.array([c.share for c in options.containers])
    shares = shares / shares.sum()
    lo, hi = options.days_to_full_range
    n = options.bins
    lat = np.empty(n)
    lon = np.empty(n)
    container = np.empty(n)
    per_day = np.empty(n)
    initial = np.empty(n)
    times: list[FloatArray] = []
    litres: list[FloatArray] = []
    samples = options.samples
    draw = np.empty((n, samples))
    echo = np.empty((n, samples))
    gauss = np.empty((n, samples))
    ok = np.ones((n, samples), dtype=np.bool_)
    for index in range(n):
        rng = np.random.default_rng([options.seed, index])
        if rng.random() < options.core_share:
            x, y = rng.normal(0.0, options.core_sd_km, 2)
            x = float(np.clip(x, -options.width_km / 2, options.width_km / 2))
            y = float(np.clip(y, -options.height_km / 2, options.height_km / 2))
        else:
            x = rng.uniform(-options.width_km / 2, options.width_km / 2)
            y = rng.uniform(-options.height_km / 2, options.height_km / 2)
        lat[index] = lat0 + y / KM_PER_DEG_LAT
        lon[index] = lon0 + x / km_per_deg_lon
        kind = options.containers[int(rng.choice(len(shares), p=shares))]
        container[index] = kind.litres
        days_to_full = float(
            np.clip(
                options.median_days_to_full * math.exp(rng.normal(0.0, options.days_to_full_sigma)),
                lo,
                hi,
            )
        )
        per_day[index] = kind.litres * options.full_pct / 100.0 / days_to_full
        initial[index] = kind.litres * rng.uniform(*options.initial_fill_pct) / 100.0
        bin_day = _lognormal_mean_one(rng, options.bin_day_sigma, days)
        visitors_per_hour = per_day[index] / 24.0 / kind.drop_mean_l
        day_of_hour = np.arange(hours) // 24
        rate = visitors_per_hour * hour_shape * city_day[day_of_hour] * bin_day[day_of_hour]
        counts = rng.poisson(rate)
        starts = np.repeat(np.arange(hours) * HOUR_S, counts)
        t = np.sort(starts + rng.random(len(starts)) * HOUR_S)
        t = t[t < options.days * DAY_S]
        times.append(t)
        litres.append(rng.lognormal(math.log(kind.drop_median_l), kind.drop_sigma, len(t)))
        draw[index] = rng.random(samples)
        echo[index] = rng.random(samples)
        gauss[index] = rng.standard_normal(samples)
        _sensor_outages(rng, options, ok[index])
    counts_per_bin = np.array([len(t) for t in times], dtype=np.int64)
    first = np.concatenate(([0], np.cumsum(counts_per_bin))).astype(np.int64)
    depot_x, depot_y = options.depot_offset_km
    return CityWorld(
        options=options,
        bin_ids=[f"city-{index:05d}" for index in range(n)],
        lat=lat,
        lon=lon,
        container_l=container,
        litres_per_day=per_day,
        initial_l=initial,
        depot=(lat0 + depot_y / KM_PER_DEG_LAT, lon0 + depot_x / km_per_deg_lon),
        dep_t=np.concatenate(times) if times else np.empty(0),
        dep_l=np.concatenate(litres) if litres else np.empty(0),
        dep_bin=np.repeat(np.arange(n, dtype=np.int64), counts_per_bin),
        first=first,
        draw=draw,
        echo=echo,
        gauss=gauss,
        sensor_ok=ok,
    )


def _lognormal_mean_one(rng: np.random.Generator, sigma: float, size: int) -> FloatArray:
    result: FloatArray = rng.lognormal(-(sigma**2) / 2, sigma, size)
    return result


def _sensor_outages(rng: np.random.Generator, options: WorldOptions, ok: BoolArray) -> None:
    """Mark the readings a failed sensor misses (a Poisson number of outages per bin)."""
    outages = rng.poisson(options.outage_per_bin_day * options.days)
    lo, hi = options.outage_hours
    for _ in range(outages):
        begin = rng.uniform(0.0, options.days * DAY_S)
        end = begin + rng.uniform(lo, hi) * HOUR_S
        ok[int(begin // options.sample_s) : math.ceil(end / options.sample_s)] = False
