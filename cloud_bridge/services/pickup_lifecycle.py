"""The pickup's lifecycle actions: request, collect, publish, and what the message carries.

:class:`PickupLifecycle` holds the bins' open pickups and the recent fill readings
the policy smooths. The policy (:class:`cloud_bridge.services.pickups.PickupService`)
decides *when* a pickup is requested, moved, escalated or closed; this module carries
it out the same way each time: every change is saved and queued (MQTT outbox and
webhook deliveries) in the transaction of the batch, tick or action that made it, and
the bridge publishes after the commit, so a pickup that was decided is never lost
between the database and its receivers.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from datetime import timedelta

from cloud_bridge.clock import Clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.pickup_rules import (
    due_from,
    due_in,
    pickup_id_for,
    pickup_location,
    wanted_priority,
    window_fill,
)
from cloud_bridge.domain.records import BinRecord, PickupRecord
from cloud_bridge.services.forecasts import ForecastService
from cloud_bridge.services.notifier import Notifier
from cloud_bridge.store.protocols import Store
from protocol import ManifestEntry, PickupReason, encode, pickups_topic

logger = logging.getLogger(__name__)

KNOWN_FILL_LOOKBACK = 50
"""Readings searched back for a fill when the newest have none (failed sensor)."""


class PickupLifecycle:
    """The open pickups (one per bin) and the actions that open, publish and close them."""

    def __init__(
        self,
        settings: BridgeSettings,
        store: Store,
        clock: Clock,
        notifier: Notifier,
        forecasts: ForecastService,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._notifier = notifier
        self._forecasts = forecasts
        self.open: dict[str, PickupRecord] = {}
        """Each bin's open pickup (``requested``, ``scheduled`` or ``escalated``)."""
        self._fills: dict[str, deque[tuple[int, float]]] = {}

    def load(self, pickups: Iterable[PickupRecord]) -> None:
        """Take the open pickups from the store (at start, or after a rollback)."""
        self.open = {p.bin_id: p for p in pickups if p.open}
        self._fills.clear()  # read back from the store when next needed

    def forget_fills(self, bin_id: str) -> None:
        """Drop the bin's smoothing window (it was emptied: older readings do not count)."""
        self._fills.pop(bin_id, None)

    def smoothed_fill(self, record: BinRecord, seq: int, fill: float) -> float:
        """Take the reading ``(seq, fill)``; the median of the bin's last few readings.

        The threshold, the hysteresis and the published fill use this rather than the
        raw reading, so one noisy spike neither opens nor moves a pickup. The window
        holds the readings since the last emptying; after a restart or a rollback it is
        read back from the store.
        """
        policy = self._settings.region(record.region)
        size = policy.fill_median_readings
        window = self._fills.get(record.bin_id)
        if window is None or window.maxlen != size:
            history = self._store.fill_history(
                record.bin_id, after_seq=record.emptied_seq, limit=size
            )
            window = deque(
                ((p.seq, p.fill_pct) for p in history if p.fill_pct is not None and p.seq < seq),
                maxlen=size,
            )
            self._fills[record.bin_id] = window
        if not window or seq > window[-1][0]:
            window.append((seq, fill))
        return window_fill(window)

    def request(
        self,
        record: BinRecord,
        reason: PickupReason,
        seq: int,
        fill: float | None,
        *,
        pickup_id: str | None = None,
    ) -> None:
        """Open a pickup for the bin, due by its priority or its forecast, and publish it."""
        policy = self._settings.region(record.region)
        now = self._clock()
        if fill is None:
            fill = self.known_fill(record)
        forecast = self._forecasts.get(record.bin_id)
        priority = wanted_priority(record, None, policy, forecast, now)
        predicted = None if forecast is None else forecast.predicted_full_at
        due_by = now + due_in(priority, policy)
        expected = due_from(forecast, policy)
        if expected is not None:
            due_by = min(due_by, max(expected, now + timedelta(hours=policy.urgent_due_hours)))
        pickup = PickupRecord(
            pickup_id=pickup_id or pickup_id_for(record.bin_id, seq),
            bin_id=record.bin_id,
            region=record.region,
            status="requested",
            priority=priority,
            reason=reason,
            fill_pct=fill,
            predicted_full_at=predicted,
            due_by=due_by,
            location=record.location,
            manifest=self.manifest(record),
            ts=now,
            requested_at=now,
            trigger_seq=seq,
            below_threshold=fill < policy.pickup_threshold_pct - policy.threshold_hysteresis_pct,
            forecast_low=None if forecast is None else forecast.low,
            forecast_high=None if forecast is None else forecast.high,
        )
        self.open[record.bin_id] = pickup
        logger.info(
            "pickup %s requested for bin %s (%s, %s, fill %s%%)",
            pickup.pickup_id,
            record.bin_id,
            reason,
            priority,
            f"{fill:.1f}",
        )
        self.publish(record, pickup)

    def collect(
        self,
        record: BinRecord,
        pickup: PickupRecord,
        *,
        fill_before: float | None,
        before_seq: int,
    ) -> None:
        """Close the pickup as collected, with what the bin held before ``before_seq``."""
        pickup.manifest = self._store.manifest(
            record.bin_id, record.emptied_seq, before_seq=before_seq
        )
        self._store.record_pickup_span(
            pickup.pickup_id, record.bin_id, record.emptied_seq, before_seq
        )
        pickup.status = "collected"
        if fill_before is not None:
            pickup.fill_pct = fill_before
        pickup.closed_at = self._clock()
        pickup.drop_seq = None
        pickup.drop_readings = 0
        del self.open[record.bin_id]
        self.publish(record, pickup, refresh_manifest=False)

    def withdraw(self, record: BinRecord, pickup: PickupRecord, reason: str) -> None:
        """Close the pickup as ``cancelled`` by the bridge itself: the readings that
        raised it were contradicted. Unlike a scheduler's cancellation it puts no hold on
        the bin: the next real crossing, forecast or alarm requests a new pickup."""
        pickup.status = "cancelled"
        pickup.cancel_reason = reason
        pickup.closed_at = self._clock()
        pickup.drop_seq = None
        pickup.drop_readings = 0
        del self.open[record.bin_id]
        logger.info("pickup %s of bin %s withdrawn: %s", pickup.pickup_id, record.bin_id, reason)
        self.publish(record, pickup, refresh_manifest=False)

    def publish(
        self, record: BinRecord, pickup: PickupRecord, *, refresh_manifest: bool = True
    ) -> None:
        """Save a new revision of the pickup and queue it to schedulers and webhooks."""
        if refresh_manifest and pickup.open:
            pickup.manifest = self.manifest(record)
        now = self._clock()
        pickup.location = pickup_location(record, pickup)
        if pickup.fill_pct is None:  # a pickup saved before fills were always known
            pickup.fill_pct = self.known_fill(record)
        pickup.revision += 1
        pickup.ts = now
        pickup.sent_fill_pct = pickup.fill_pct
        pickup.sent_priority = pickup.priority
        pickup.sent_manifest = dict(pickup.manifest)
        pickup.sent_predicted_full_at = pickup.predicted_full_at
        pickup.sent_at = now
        self._store.save_pickup(pickup)
        self._notifier.send(
            "pickup",
            pickup.region,
            pickups_topic(pickup.region),
            pickup.pickup_id,
            encode(pickup.message()),
        )

    def known_fill(self, record: BinRecord) -> float:
        """The bin's fill as well as it is known: ``fill_pct`` is never null on the wire.

        The median of the recent readings, else the newest reading since the last
        emptying that had a fill (the sensor may have failed since); with none, 100 %
        while an ``overflow`` alarm is active, else 0 % (nothing measured since the
        bin was emptied, or ever).
        """
        window = self._fills.get(record.bin_id)
        if window:
            return window_fill(window)
        if record.fill_pct is not None:
            return record.fill_pct
        history = self._store.fill_history(
            record.bin_id, after_seq=record.emptied_seq, limit=KNOWN_FILL_LOOKBACK
        )
        for point in reversed(history):
            if point.fill_pct is not None:
                return point.fill_pct
        return 100.0 if record.alarm_active("overflow") else 0.0

    def manifest(self, record: BinRecord) -> dict[str, ManifestEntry]:
        """What the bin holds since it was last emptied, per category."""
        return self._store.manifest(record.bin_id, record.emptied_seq)
