"""Keeping every bin's forecast current, on the writer thread, from the store.

New readings mark a bin; the periodic tick forecasts the marked bins whose last
forecast is older than ``forecast.interval_s`` (an emptying forces a fresh one at
once). Each forecast reads the bin's readings since its last emptying (at most
``forecast.history_days`` of them), on the time axis of
:attr:`cloud_bridge.store.protocols.FillPoint.at`, and the bin's deposit rhythm, relearned every
``forecast.profile_refresh_hours`` from its deposits (hours when its door was locked do
not count as quiet hours). Forecasts are saved, so ``bin-bridge bins`` and the API read
them without computing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.forecast import (
    ActivityProfile,
    FillSample,
    Forecast,
    ForecastOptions,
    ProfileOptions,
    forecast_full,
    learn_profile,
)
from cloud_bridge.domain.records import BinRecord
from cloud_bridge.store.protocols import FillPoint, Store

logger = logging.getLogger(__name__)


def locked_intervals(
    points: Sequence[FillPoint | tuple[datetime, str | None]], end: datetime
) -> list[tuple[datetime, datetime]]:
    """Spans during which the bin reported its door ``locked`` (it was full), from its
    readings (``FillPoint`` or ``Store.door_changes`` rows)."""
    spans: list[tuple[datetime, datetime]] = []
    since: datetime | None = None
    for point in points:
        at, door = (point.at, point.door) if isinstance(point, FillPoint) else point
        if door == "locked":
            if since is None:
                since = at
        elif since is not None:
            spans.append((since, at))
            since = None
    if since is not None:
        spans.append((since, end))
    return spans


class ForecastService:
    """Every bin's latest forecast, and which bins need a new one."""

    def __init__(self, settings: BridgeSettings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._forecasts: dict[str, Forecast] = {}
        self._profiles: dict[str, tuple[datetime, ActivityProfile | None]] = {}
        self._due: set[str] = set()
        self._forced: set[str] = set()
        f = settings.forecast
        self._profile_options = ProfileOptions(
            window_days=f.profile_window_days,
            min_events=f.profile_min_events,
            daily_after_days=f.daily_after_days,
            weekly_after_days=f.weekly_after_days,
        )

    def load(self, bins: list[BinRecord]) -> None:
        """Take the saved forecasts; mark every bin for a fresh one at the next tick."""
        self._forecasts = self._store.load_forecasts()
        self._due.update(record.bin_id for record in bins)

    def get(self, bin_id: str) -> Forecast | None:
        """The bin's latest forecast, if any."""
        return self._forecasts.get(bin_id)

    def mark(self, bin_id: str) -> None:
        """A new reading arrived: forecast the bin again at a tick after the interval."""
        self._due.add(bin_id)

    def reset(self, bin_id: str) -> None:
        """The bin was emptied: drop its forecast and make a fresh one at the next tick."""
        self._forecasts.pop(bin_id, None)
        self._due.add(bin_id)
        self._forced.add(bin_id)

    def refresh(self, bins: dict[str, BinRecord], now: datetime) -> list[str]:
        """Forecast the marked bins that are due; return the ids forecast."""
        interval = timedelta(seconds=self._settings.forecast.interval_s)
        done: list[str] = []
        for bin_id in sorted(self._due):
            record = bins.get(bin_id)
            if record is None:
                self._due.discard(bin_id)
                continue
            last = self._forecasts.get(bin_id)
            if (
                bin_id not in self._forced
                and last is not None
                and now - last.computed_at < interval
            ):
                continue
            forecast = self.compute(record, now)
            self._store.save_forecast(bin_id, forecast)
            self._forecasts[bin_id] = forecast
            self._due.discard(bin_id)
            self._forced.discard(bin_id)
            done.append(bin_id)
        return done

    def compute(self, record: BinRecord, now: datetime) -> Forecast:
        """A forecast of one bin from the store (pure apart from the reads)."""
        policy = self._settings.region(record.region)
        oldest = now - timedelta(days=self._settings.forecast.history_days)
        points = self._store.fill_series(record.bin_id, after_seq=record.emptied_seq, since=oldest)
        samples = [FillSample(at, fill) for at, fill, _ in points if fill is not None]
        options = ForecastOptions(
            reset_drop_pct=policy.emptied_drop_pct, reset_below_pct=policy.emptied_below_pct
        )
        return forecast_full(
            samples,
            now=now,
            full_pct=policy.full_pct,
            profile=self._profile(record.bin_id, now),
            options=options,
        )

    def _profile(self, bin_id: str, now: datetime) -> ActivityProfile | None:
        cached = self._profiles.get(bin_id)
        refresh = timedelta(hours=self._settings.forecast.profile_refresh_hours)
        if cached is not None and timedelta(0) <= now - cached[0] < refresh:
            return cached[1]
        since = now - timedelta(days=self._profile_options.window_days)
        events = self._store.deposit_times(bin_id, since)
        profile: ActivityProfile | None = None
        if len(events) >= self._profile_options.min_events:
            closed = locked_intervals(self._store.door_changes(bin_id, since), now)
            profile = learn_profile(events, now=now, closed=closed, options=self._profile_options)
        self._profiles[bin_id] = (now, profile)
        if profile is not None and (cached is None or cached[1] is None):
            logger.info(
                "bin %s: %s deposit rhythm learned from %d deposits over %.1f days",
                bin_id,
                profile.method,
                profile.events,
                profile.span_days,
            )
        return profile
