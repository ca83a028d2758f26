"""When will a bin be full? A robust, pure forecast from its fill readings.

Input: the bin's fill readings since its last emptying (time, fill %), the level that
counts as full, the bridge's "now" and, once enough history exists, an activity
profile learned from the bin's deposits (:func:`learn_profile`). Output: the
predicted full time with a p10-p90 band, the rate, the level now and the method used.

The method:

1. **Restart at an emptying.** A confirmed drop (three readings in a row at or below
   ``reset_below_pct``, at least ``reset_drop_pct`` under the smoothed peak before)
   starts the series afresh, even if no ``emptied`` event said so.
2. **Warped time.** Bins fill when people come, so fill is linear not in clock time
   but in "activity time": the integral of the bin's relative deposit rate per hour of
   the week (mean 1). Without a profile this is clock time.
3. **Robust fit.** Readings are pooled into windows (median time, median fill), which
   removes single-reading spikes; a Theil-Sen line (median of pairwise slopes) through
   the windows gives the rate, unmoved by outliers up to ~29 % of the windows. The
   level now is the median of the last windows projected to now along that rate.
4. **Prediction.** The full time is where the warped clock has advanced by
   ``(full - level) / rate`` from now.
5. **Band.** The slope's Sen confidence interval (80 %) and the spread of the fill
   process around its trend (compound-Poisson arrivals: variance grows with the
   horizon), combined in quadrature, give p10 and p90.

Everything here is a function of its arguments: no clock, no store, no randomness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from protocol.emptying import is_emptying

HOURS_PER_WEEK = 168
_Z80 = 1.2815515655446004  # standard normal quantile of 0.9: p10 and p90
_MAD_SIGMA = 1.4826
_MIN_RATE = 1e-3  # % per (activity) hour below which a bin is not filling

ForecastMethod = Literal["linear", "daily", "weekly", "full", "insufficient", "no_rise"]
ProfileMethod = Literal["daily", "weekly"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FillSample:
    """One fill reading on the forecast's time axis (the bin's clock when synced)."""

    at: datetime
    fill_pct: float


@dataclass(frozen=True, slots=True)
class ActivityProfile:
    """Relative deposit rate per hour of the week (UTC), mean 1.

    ``weights[d * 24 + h]`` is the rate on weekday ``d`` (Monday 0) at hour ``h``
    relative to the bin's mean rate.
    """

    weights: tuple[float, ...]
    method: ProfileMethod
    events: int
    span_days: float

    def weight_at(self, when: datetime) -> float:
        """The relative rate at ``when``."""
        return self.weights[when.weekday() * 24 + when.hour]


@dataclass(frozen=True, slots=True)
class Forecast:
    """A bin's predicted full time and how sure it is.

    ``rate_pct_per_h`` is the mean fill rate over the week (per clock hour);
    ``level_pct`` the estimated fill now. ``predicted_full_at`` is None when the
    method is ``insufficient`` (too few readings) or ``no_rise`` (not filling).
    """

    predicted_full_at: datetime | None
    low: datetime | None
    high: datetime | None
    rate_pct_per_h: float | None
    level_pct: float | None
    method: ForecastMethod
    points: int
    computed_at: datetime
    full_pct: float
    span_hours: float = 0.0
    """Clock hours between the first and the last reading used."""

    @property
    def available(self) -> bool:
        """Whether there is a predicted time."""
        return self.predicted_full_at is not None


@dataclass(frozen=True, slots=True)
class ForecastOptions:
    """Tuning of :func:`forecast_full` (the defaults are what the bridge uses)."""

    min_points: int = 4
    min_span_h: float = 1.0
    window_min: float = 30.0
    """Readings are pooled into windows of at least this many minutes."""
    max_windows: int = 120
    reset_drop_pct: float = 30.0
    reset_below_pct: float = 20.0
    max_horizon_h: float = 60 * 24.0
    """Predictions further out than this are reported without a time (``no_rise``)."""
    recent_windows: int = 4
    """The level now is taken from this many last windows (at least)."""
    min_activity_h: float = 1.0
    min_rise_pct: float = 5.0
    """Readings spanning less than ``min_activity_h`` hours of the rhythm's activity are
    extrapolated only once the trend rose ``min_rise_pct``: a point or two of sensor
    noise just after a night emptying, spread over nearly dead hours, would otherwise
    give a steep rate and a full time a few hours away. (Without a rhythm an hour of
    activity is an hour of clock, which ``min_span_h`` already asks for.)"""


DEFAULT_OPTIONS = ForecastOptions()


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600.0


def restart_index(
    fills: Sequence[float], drop_pct: float, below_pct: float, confirm: int = 3
) -> int:
    """Index of the first reading after the last confirmed emptying (0 if none).

    An emptying is ``confirm`` readings in a row at or below ``below_pct``, the first
    at least ``drop_pct`` under the peak of the 3-reading running median before it, so
    a wild reading (or two) neither makes a peak nor an emptying.
    """
    start = 0
    peak = -math.inf
    n = len(fills)
    for i in range(n):
        if (
            i + confirm <= n
            and is_emptying(peak, fills[i], drop_pct=drop_pct, below_pct=below_pct)
            and all(fill <= below_pct for fill in fills[i + 1 : i + confirm])
        ):
            start = i
            peak = -math.inf
        lo = max(start, i - 1)
        hi = min(n, i + 2)
        window = sorted(fills[lo:hi])
        peak = max(peak, window[len(window) // 2])
    return start


class _Warp:
    """Activity time: the integral of the profile's weights, in weighted hours."""

    def __init__(self, origin: datetime, end: datetime, profile: ActivityProfile | None) -> None:
        self.origin = origin.replace(minute=0, second=0, microsecond=0)
        hours = max(1, math.ceil(_hours(end - self.origin)) + 1)
        if profile is None:
            weights = np.ones(hours)
        else:
            base = self.origin.weekday() * 24 + self.origin.hour
            table = np.asarray(profile.weights, dtype=np.float64)
            weights = table[(base + np.arange(hours)) % HOURS_PER_WEEK]
        self.weights: FloatArray = weights
        self.cumulative: FloatArray = np.concatenate(([0.0], np.cumsum(weights)))
        self.hours = hours

    def clock_hours(self, when: datetime) -> float:
        """Clock hours from the origin to ``when``."""
        return _hours(when - self.origin)

    def forward(self, clock_h: FloatArray) -> FloatArray:
        """Activity time at clock hours ``clock_h`` after the origin."""
        x = np.clip(clock_h, 0.0, float(self.hours))
        k = np.minimum(np.floor(x).astype(np.int64), self.hours - 1)
        result: FloatArray = self.cumulative[k] + self.weights[k] * (x - k)
        return result

    def inverse(self, activity: float) -> float | None:
        """Clock hours after the origin at which activity time reaches ``activity``."""
        if activity > self.cumulative[-1]:
            return None
        k = int(np.searchsorted(self.cumulative, activity, side="right")) - 1
        k = min(max(k, 0), self.hours - 1)
        return float(k + (activity - self.cumulative[k]) / self.weights[k])


def _windows(
    times_h: FloatArray, fills: FloatArray, options: ForecastOptions
) -> tuple[FloatArray, FloatArray]:
    """Median time and fill per window; the raw readings when windows would be too few."""
    span = float(times_h[-1] - times_h[0])
    width = max(options.window_min / 60.0, span / options.max_windows)
    if span / width < 2 * options.min_points:
        return times_h, fills
    index = np.floor((times_h - times_h[0]) / width).astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(index)) + 1))
    return _group_medians(times_h, index, starts), _group_medians(fills, index, starts)


def _group_medians(
    values: FloatArray, group: npt.NDArray[np.int64], starts: npt.NDArray[np.intp]
) -> FloatArray:
    """The median of each run of equal ``group`` (runs begin at ``starts``), as
    ``np.median`` gives it, in one sort instead of a call per window: the forecast runs
    for every bin at every tick, and per-window calls were most of its time."""
    ordered = values[np.lexsort((values, group))]
    counts = np.diff(np.concatenate((starts, [len(values)])))
    low = starts + (counts - 1) // 2
    high = starts + counts // 2
    result: FloatArray = (ordered[low] + ordered[high]) / 2.0
    return result


def _sen_slope(x: FloatArray, y: FloatArray) -> tuple[float, float, float]:
    """Theil-Sen slope with its (80 %) Sen confidence interval: (slope, low, high)."""
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    keep = dx > 1e-9
    slopes = np.sort((y[j] - y[i])[keep] / dx[keep])
    count = len(slopes)
    if count == 0:
        return 0.0, 0.0, 0.0
    n = len(x)
    spread = _Z80 * math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    lo = int(max(0, math.floor((count - spread) / 2.0)))
    hi = int(min(count - 1, math.ceil((count + spread) / 2.0)))
    return _median(slopes, ordered=True), float(slopes[lo]), float(slopes[hi])


def _robust_sd(values: FloatArray) -> float:
    if len(values) == 0:
        return 0.0
    return float(_MAD_SIGMA * _median(np.abs(values - _median(values))))


def _median(values: FloatArray, *, ordered: bool = False) -> float:
    """``np.median`` of a short 1-d array, exactly, without its overhead (a dozen of
    these per forecast, and a forecast per bin and reading, were a third of its time)."""
    ranked = values if ordered else np.sort(values)
    n = len(ranked)
    if n == 0:
        return math.nan
    middle = n // 2
    if n % 2:
        return float(ranked[middle])
    return float((ranked[middle - 1] + ranked[middle]) / 2.0)


def forecast_full(
    samples: Sequence[FillSample],
    *,
    now: datetime,
    full_pct: float,
    profile: ActivityProfile | None = None,
    options: ForecastOptions = DEFAULT_OPTIONS,
) -> Forecast:
    """Predict when the fill reaches ``full_pct`` from readings since the last emptying."""

    def verdict(method: ForecastMethod, points: int, **found: object) -> Forecast:
        return Forecast(
            predicted_full_at=found.get("at"),  # type: ignore[arg-type]
            low=found.get("low"),  # type: ignore[arg-type]
            high=found.get("high"),  # type: ignore[arg-type]
            rate_pct_per_h=found.get("rate"),  # type: ignore[arg-type]
            level_pct=found.get("level"),  # type: ignore[arg-type]
            method=method,
            points=points,
            computed_at=now,
            full_pct=full_pct,
            span_hours=span,
        )

    ordered = sorted((s for s in samples if s.at <= now), key=lambda s: s.at)
    if ordered:
        start = restart_index(
            [s.fill_pct for s in ordered], options.reset_drop_pct, options.reset_below_pct
        )
        ordered = ordered[start:]
    n = len(ordered)
    span = _hours(ordered[-1].at - ordered[0].at) if ordered else 0.0
    if n < options.min_points or span < options.min_span_h:
        return verdict("insufficient", n)

    warp = _Warp(ordered[0].at, now + timedelta(hours=options.max_horizon_h), profile)
    clock_h = np.array([warp.clock_hours(s.at) for s in ordered])
    fills = np.array([s.fill_pct for s in ordered])
    t_win, y_win = _windows(clock_h, fills, options)
    s_win = warp.forward(t_win)
    slope, slope_lo, slope_hi = _sen_slope(s_win, y_win)
    method: ForecastMethod = "linear" if profile is None else profile.method

    s_now = float(warp.forward(np.array([warp.clock_hours(now)]))[0])
    recent = max(options.recent_windows, len(s_win) // 4)
    projected = y_win[-recent:] + slope * (s_now - s_win[-recent:])
    level = _median(projected)
    residuals = y_win - (_median(y_win - slope * s_win) + slope * s_win)
    level_sd = _robust_sd(residuals[-recent:]) / math.sqrt(min(recent, len(residuals)))
    rate = slope  # per activity hour = per clock hour on average over the week

    if level >= full_pct:
        return verdict("full", n, at=now, low=now, high=now, rate=rate, level=level)
    if slope <= _MIN_RATE:
        return verdict("no_rise", n, rate=rate, level=level)
    activity_h = float(s_win[-1] - s_win[0])
    if activity_h < options.min_activity_h and slope * activity_h < options.min_rise_pct:
        return verdict("insufficient", n, rate=rate, level=level)

    remaining = full_pct - level
    tau = remaining / slope
    target = warp.inverse(s_now + tau)
    if target is None:
        return verdict("no_rise", n, rate=rate, level=level)

    # Process spread: increments between windows around the trend, per activity hour.
    ds = np.diff(s_win)
    ok = ds > 1e-9
    if ok.sum() >= 3:
        scaled = (np.diff(y_win)[ok] - slope * ds[ok]) / np.sqrt(ds[ok])
        process_var = _robust_sd(scaled) ** 2
    else:
        process_var = 0.0
    fill_sd = math.sqrt(process_var * tau + level_sd**2)
    noise_tau = _Z80 * fill_sd / slope
    tau_fast = remaining / slope_hi if slope_hi > slope else tau
    tau_slow = remaining / slope_lo if slope_lo > _MIN_RATE else math.inf
    low_tau = max(0.0, tau - math.hypot(tau - tau_fast, noise_tau))
    high_tau = tau + math.hypot(tau_slow - tau, noise_tau)

    def at(activity_after_now: float) -> datetime | None:
        clock = warp.inverse(s_now + activity_after_now)
        return None if clock is None else warp.origin + timedelta(hours=clock)

    return verdict(
        method,
        n,
        at=warp.origin + timedelta(hours=target),
        low=at(low_tau),
        high=at(high_tau) if math.isfinite(high_tau) else None,
        rate=rate,
        level=level,
    )


@dataclass(frozen=True, slots=True)
class ProfileOptions:
    """When a profile is learned and how strongly it is smoothed."""

    window_days: float = 28.0
    min_events: int = 50
    daily_after_days: float = 2.0
    weekly_after_days: float = 14.0
    smoothing_hours: float = 0.5
    """Pseudo-hours at the mean rate added to every hour-of-day (and 24x per weekday)."""
    floor: float = 0.01
    """Least relative weight of an hour, so a quiet hour never stops the clock."""


DEFAULT_PROFILE_OPTIONS = ProfileOptions()


def _exposure(
    start: datetime, end: datetime, closed: Sequence[tuple[datetime, datetime]]
) -> tuple[FloatArray, FloatArray]:
    """Open clock hours per hour of day and per weekday between ``start`` and ``end``.

    Hours in ``closed`` intervals (the door locked because the bin was full) are not
    exposure: nobody could deposit then, so they must not make those hours look quiet.
    """
    origin = start.replace(minute=0, second=0, microsecond=0)
    slots = math.ceil(_hours(end - origin)) + 1
    open_h = np.ones(slots)
    open_h[0] -= _hours(start - origin)
    open_h[-1] -= slots - _hours(end - origin)
    for lo, hi in closed:
        lo, hi = max(lo, start), min(hi, end)
        cursor = lo
        while cursor < hi:
            slot_start = cursor.replace(minute=0, second=0, microsecond=0)
            nxt = min(slot_start + timedelta(hours=1), hi)
            open_h[round(_hours(slot_start - origin))] -= _hours(nxt - cursor)
            cursor = nxt
    open_h = np.clip(open_h, 0.0, 1.0)
    first = origin.weekday() * 24 + origin.hour
    hour_of_week = (first + np.arange(slots)) % HOURS_PER_WEEK
    per_week = np.bincount(hour_of_week, weights=open_h, minlength=HOURS_PER_WEEK)
    grid = per_week.reshape(7, 24)
    return grid.sum(axis=0), grid.sum(axis=1)


def learn_profile(
    events: Sequence[datetime],
    *,
    now: datetime,
    closed: Sequence[tuple[datetime, datetime]] = (),
    options: ProfileOptions = DEFAULT_PROFILE_OPTIONS,
) -> ActivityProfile | None:
    """The bin's deposit rhythm over the hours of the week, or None while too little is known.

    A daily profile (hour of day) needs ``daily_after_days`` of history and
    ``min_events`` deposits; a weekly one (hour of day times weekday) needs
    ``weekly_after_days``. Rates are counts over the hours the bin was open (not in
    ``closed``), smoothed towards the mean, so an hour that happened to see nobody
    keeps a small weight.
    """
    since = now - timedelta(days=options.window_days)
    times = sorted(t for t in events if since <= t <= now)
    if len(times) < options.min_events:
        return None
    start = times[0]
    span_days = _hours(now - start) / 24.0
    if span_days < options.daily_after_days:
        return None
    exposure_h, exposure_d = _exposure(start, now, closed)
    counts_h = np.zeros(24)
    counts_d = np.zeros(7)
    for t in times:
        counts_h[t.hour] += 1
        counts_d[t.weekday()] += 1
    mean_rate = len(times) / max(float(exposure_h.sum()), 1e-9)
    k = options.smoothing_hours
    hourly = (counts_h + k * mean_rate) / (exposure_h + k)
    hourly = np.maximum(hourly / hourly.mean(), options.floor)
    method: ProfileMethod = "daily"
    daily = np.ones(7)
    if span_days >= options.weekly_after_days:
        method = "weekly"
        daily = (counts_d + 24 * k * mean_rate) / (exposure_d + 24 * k)
        daily = daily / daily.mean()
    weights = np.outer(daily, hourly).reshape(HOURS_PER_WEEK)
    weights = weights / weights.mean()
    return ActivityProfile(
        weights=tuple(float(w) for w in weights),
        method=method,
        events=len(times),
        span_days=span_days,
    )
