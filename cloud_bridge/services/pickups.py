"""Pickup policy and lifecycle: when to ask for a pickup, when to tell schedulers again.

One open pickup per bin (``requested``, ``scheduled`` or ``escalated``). It is
requested when the bin's fill (the median of its last ``fill_median_readings``
readings, so one noisy spike decides nothing) reaches its region's threshold, when its
forecast says it will be full within the region's lead time, or when the bin raises
an ``overflow`` or ``fire`` alarm, whichever comes first. It is updated in place
(same id, republished) on a new threshold crossing after a real dip (hysteresis), a
fill step, a moved forecast or a higher priority; escalated when ``due_by`` passes
without a collection; and collected only on evidence: an ``emptied`` event newer than
the request (or naming it), or a fill drop confirmed by consecutive readings.
Schedulers acknowledge, schedule and cancel it; they never collect it.

Every change is saved and queued (MQTT outbox and webhook deliveries) in the
transaction of the batch, tick or action that made it; the bridge publishes after the
commit, so a pickup that was decided is never lost between the database and its
receivers.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
from collections import deque
from collections.abc import Iterable
from datetime import datetime, timedelta

from cloud_bridge.clock import Clock
from cloud_bridge.config.settings import BridgeSettings, RegionSettings
from cloud_bridge.domain.fleet import Fleet
from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.domain.records import BinRecord, PickupRecord
from cloud_bridge.errors import Conflict, InvalidAction, NotFound
from cloud_bridge.services.forecasts import ForecastService
from cloud_bridge.services.notifier import Notifier
from cloud_bridge.store.protocols import Store
from protocol import (
    AlarmEvent,
    DepositEvent,
    EmptiedEvent,
    Location,
    ManifestEntry,
    PickupPriority,
    PickupReason,
    Telemetry,
    encode,
    pickups_topic,
)
from protocol.emptying import is_emptying

logger = logging.getLogger(__name__)

PRIORITY_RANK: dict[str, int] = {"normal": 0, "high": 1, "urgent": 2}
KNOWN_FILL_LOOKBACK = 50
"""Readings searched back for a fill when the newest have none (failed sensor)."""
SCHEDULE_PAST_TOLERANCE = timedelta(hours=1)
"""How far in the past a scheduler may still date a planned collection (clock skew)."""


def pickup_id_for(bin_id: str, seq: int) -> str:
    """A deterministic id from the message that raised the pickup (replays give the same)."""
    digest = hashlib.sha256(f"{bin_id}:{seq}".encode()).hexdigest()
    return f"pk-{digest[:24]}"


def tick_pickup_id(bin_id: str, at: datetime, reason: str) -> str:
    """The id of a pickup raised by a tick (no message raised it)."""
    digest = hashlib.sha256(f"{bin_id}:{reason}:{at.isoformat()}".encode()).hexdigest()
    return f"pk-{digest[:24]}"


class PickupService:
    """Raises, updates, escalates and closes pickups; carries out schedulers' actions."""

    def __init__(
        self,
        settings: BridgeSettings,
        store: Store,
        clock: Clock,
        fleet: Fleet,
        notifier: Notifier,
        forecasts: ForecastService,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._fleet = fleet
        self._notifier = notifier
        self.forecasts = forecasts
        self._open: dict[str, PickupRecord] = {}
        self._fills: dict[str, deque[tuple[int, float]]] = {}

    def load(self, pickups: Iterable[PickupRecord]) -> None:
        """Take the open pickups from the store (at start, or after a rollback)."""
        self._open = {p.bin_id: p for p in pickups if p.open}
        self._fills.clear()  # read back from the store when next needed

    def open_pickup(self, bin_id: str) -> PickupRecord | None:
        """The bin's open pickup, if any."""
        return self._open.get(bin_id)

    # -- bin messages -----------------------------------------------------------------

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
        return _window_fill(window)

    def on_telemetry(self, record: BinRecord, telemetry: Telemetry) -> None:
        """React to the bin's newest measurements."""
        raw = telemetry.fill_pct
        if raw is None:
            return
        self.forecasts.mark(record.bin_id)
        policy = self._settings.region(record.region)
        fill = self.smoothed_fill(record, telemetry.seq, raw)
        pickup = self._open.get(record.bin_id)
        if pickup is None:
            if fill >= policy.pickup_threshold_pct and not record.pickup_hold:
                self._request(record, "threshold", telemetry.seq, fill)
            return
        if telemetry.seq <= pickup.trigger_seq:
            return
        if self._drop_is_emptying(pickup, raw, policy):  # confirmed by readings in a row
            if pickup.drop_seq is None:
                pickup.drop_seq = telemetry.seq
                pickup.drop_readings = 0
            pickup.drop_readings += 1
            if pickup.drop_readings < policy.emptied_confirm_readings:
                self._store.save_pickup(pickup)
                return
            logger.info(
                "bin %s fill fell from %.1f%% to %.1f%%: pickup %s collected",
                record.bin_id,
                pickup.fill_pct or 0.0,
                raw,
                pickup.pickup_id,
            )
            drop_seq = pickup.drop_seq
            self._collect(record, pickup, fill_before=pickup.fill_pct, before_seq=drop_seq)
            Fleet.mark_emptied(record, drop_seq)
            self.after_emptying(record)
            return
        pickup.drop_seq = None
        pickup.drop_readings = 0
        crossed = False
        if fill < policy.pickup_threshold_pct - policy.threshold_hysteresis_pct:
            pickup.below_threshold = True
        elif fill >= policy.pickup_threshold_pct and pickup.below_threshold:
            pickup.below_threshold = False
            pickup.crossings += 1
            crossed = True
        pickup.fill_pct = fill
        raised = self._raise_priority(record, pickup, policy)
        moved = pickup.sent_fill_pct is None or (
            abs(fill - pickup.sent_fill_pct) >= policy.republish_fill_step_pct
        )
        if crossed or raised or moved:
            self._publish(record, pickup)
        else:
            self._store.save_pickup(pickup)

    def on_deposit(self, record: BinRecord, deposit: DepositEvent) -> None:
        """An accepted deposit changes the open pickup's manifest."""
        pickup = self._open.get(record.bin_id)
        if pickup is None or not deposit.accepted or deposit.seq <= record.emptied_seq:
            return
        manifest = self._manifest(record)
        if manifest == pickup.manifest:
            return
        pickup.manifest = manifest
        policy = self._settings.region(record.region)
        now = self._clock()
        if pickup.sent_at is None or (now - pickup.sent_at).total_seconds() >= (
            policy.manifest_republish_min_s
        ):
            self._publish(record, pickup)
        else:
            self._store.save_pickup(pickup)

    def on_emptied(self, record: BinRecord, event: EmptiedEvent) -> None:
        """Collect the open pickup on an emptying that happened after its request.

        Call before the fleet moves the manifest baseline, so the collected manifest
        is what was in the bin until this emptying.
        """
        pickup = self._open.get(record.bin_id)
        if pickup is None:
            return
        if event.pickup_id != pickup.pickup_id and event.seq <= pickup.trigger_seq:
            return
        if event.pickup_id is not None and event.pickup_id != pickup.pickup_id:
            logger.info(
                "bin %s emptied for pickup %s; open pickup %s collected with it",
                record.bin_id,
                event.pickup_id,
                pickup.pickup_id,
            )
        fill_before = event.fill_before_pct
        self._collect(
            record,
            pickup,
            fill_before=pickup.fill_pct if fill_before is None else fill_before,
            before_seq=event.seq,
        )

    def after_emptying(self, record: BinRecord) -> None:
        """The bin's manifest baseline moved: forecast afresh, lift a cancellation's hold."""
        record.pickup_hold = False
        self._fills.pop(record.bin_id, None)
        self.forecasts.reset(record.bin_id)

    def on_alarm(self, record: BinRecord, alarm: AlarmEvent) -> None:
        """An active ``overflow`` (high) or ``fire`` (urgent) alarm raises the priority.

        On a bin without an open pickup it requests one at once (even after a
        cancellation: an alarm is new information).
        """
        if alarm.kind not in ("overflow", "fire") or not alarm.active:
            return
        pickup = self._open.get(record.bin_id)
        if pickup is None:
            self._request(record, "alarm", alarm.seq, None)
            return
        policy = self._settings.region(record.region)
        if self._raise_priority(record, pickup, policy):
            self._publish(record, pickup)

    # -- time -------------------------------------------------------------------------

    def tick(self) -> None:
        """Time-based policy: forecasts, forecast requests, escalation, time-left priority."""
        now = self._clock()
        bins = {record.bin_id: record for record in self._fleet.all()}
        refreshed = set(self.forecasts.refresh(bins, now))
        for bin_id, record in bins.items():
            pickup = self._open.get(bin_id)
            if pickup is None:
                # Every tick, not only after a new reading: a quiet bin's predicted full
                # time comes nearer too, and must still enter the lead time.
                self._maybe_forecast_request(record, now)
            elif bin_id in refreshed:
                self._follow_forecast(record, pickup, now)
        for pickup in list(self._open.values()):
            owner = bins.get(pickup.bin_id)
            if owner is None:
                continue
            policy = self._settings.region(owner.region)
            if pickup.escalated_at is None and now > pickup.due_by:
                pickup.status = "escalated"
                pickup.escalated_at = now
                self._raise_priority(owner, pickup, policy)
                logger.warning(
                    "pickup %s of bin %s escalated: due %s passed",
                    pickup.pickup_id,
                    pickup.bin_id,
                    pickup.due_by.isoformat(),
                )
                self._publish(owner, pickup)
            elif self._raise_priority(owner, pickup, policy):
                self._publish(owner, pickup)

    def _maybe_forecast_request(self, record: BinRecord, now: datetime) -> None:
        forecast = self.forecasts.get(record.bin_id)
        if forecast is None or forecast.predicted_full_at is None or record.pickup_hold:
            return
        policy = self._settings.region(record.region)
        if forecast.method == "linear" and forecast.span_hours < policy.forecast_request_min_hours:
            return
        if forecast.predicted_full_at - now <= timedelta(hours=policy.lead_time_hours):
            self._request(
                record,
                "forecast",
                record.telemetry_seq,
                record.fill_pct,
                pickup_id=tick_pickup_id(record.bin_id, now, "forecast"),
            )

    def _follow_forecast(self, record: BinRecord, pickup: PickupRecord, now: datetime) -> None:
        forecast = self.forecasts.get(record.bin_id)
        predicted = None if forecast is None else forecast.predicted_full_at
        pickup.predicted_full_at = predicted
        pickup.forecast_low = None if forecast is None else forecast.low
        pickup.forecast_high = None if forecast is None else forecast.high
        policy = self._settings.region(record.region)
        step = timedelta(hours=policy.forecast_republish_hours)
        sent = pickup.sent_predicted_full_at
        # A first prediction, or one that moved by the step, is news; losing the
        # prediction (too few readings after a glitch) is not worth a message.
        moved = predicted is not None and (sent is None or abs(predicted - sent) >= step)
        sooner = False
        expected = _due_from(forecast, policy)
        if expected is not None and pickup.escalated_at is None:
            due = max(expected, now + timedelta(hours=policy.urgent_due_hours))
            if pickup.due_by - due >= step:  # hysteresis: no creeping by minutes
                pickup.due_by = due
                sooner = True
        raised = self._raise_priority(record, pickup, policy)
        if moved or sooner or raised:
            self._publish(record, pickup)
        else:
            self._store.save_pickup(pickup)

    # -- schedulers' actions ----------------------------------------------------------

    def acknowledge(self, pickup_id: str, actor: str) -> PickupRecord:
        """A scheduler has seen the request (idempotent: a second call changes nothing)."""
        record, pickup = self._actionable(pickup_id, "acknowledge")
        if pickup.acknowledged_at is None:
            pickup.acknowledged_at = self._clock()
            logger.info("pickup %s acknowledged by %s", pickup_id, actor)
            self._publish(record, pickup)
        return pickup

    def schedule(
        self, pickup_id: str, when: datetime, actor: str, note: str | None = None
    ) -> PickupRecord:
        """A scheduler plans the collection for ``when``."""
        record, pickup = self._actionable(pickup_id, "schedule")
        now = self._clock()
        if when < now - SCHEDULE_PAST_TOLERANCE:
            raise InvalidAction(
                f"scheduled_for {when.isoformat()} is in the past (now {now.isoformat()})",
                field="scheduled_for",
            )
        pickup.status = "scheduled"
        pickup.scheduled_for = when
        pickup.note = note
        if pickup.acknowledged_at is None:
            pickup.acknowledged_at = now
        logger.info("pickup %s scheduled for %s by %s", pickup_id, when.isoformat(), actor)
        self._publish(record, pickup)
        return pickup

    def cancel(self, pickup_id: str, reason: str, actor: str) -> PickupRecord:
        """A scheduler withdraws the request; no automatic one follows until the bin is emptied."""
        record, pickup = self._actionable(pickup_id, "cancel")
        pickup.status = "cancelled"
        pickup.cancel_reason = reason
        pickup.closed_at = self._clock()
        record.pickup_hold = True
        self._fleet.touch(record.bin_id)
        del self._open[record.bin_id]
        logger.info("pickup %s cancelled by %s: %s", pickup_id, actor, reason)
        self._publish(record, pickup, refresh_manifest=False)
        return pickup

    def _actionable(self, pickup_id: str, action: str) -> tuple[BinRecord, PickupRecord]:
        pickup = next((p for p in self._open.values() if p.pickup_id == pickup_id), None)
        if pickup is None:
            stored = self._store.get_pickup(pickup_id)
            if stored is None:
                raise NotFound(f"no pickup {pickup_id!r}", field="pickup_id")
            raise Conflict(f"cannot {action} pickup {pickup_id}: it is {stored.status}")
        record = self._fleet.get(pickup.bin_id)
        if record is None:
            raise Conflict(f"cannot {action} pickup {pickup_id}: bin {pickup.bin_id} is unknown")
        return record, pickup

    # -- lifecycle ------------------------------------------------------------------

    def _request(
        self,
        record: BinRecord,
        reason: PickupReason,
        seq: int,
        fill: float | None,
        *,
        pickup_id: str | None = None,
    ) -> None:
        policy = self._settings.region(record.region)
        now = self._clock()
        if fill is None:
            fill = self.known_fill(record)
        priority = self._wanted_priority(record, None, policy)
        forecast = self.forecasts.get(record.bin_id)
        predicted = None if forecast is None else forecast.predicted_full_at
        due_by = now + self._due_in(priority, policy)
        expected = _due_from(forecast, policy)
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
            manifest=self._manifest(record),
            ts=now,
            requested_at=now,
            trigger_seq=seq,
            below_threshold=fill < policy.pickup_threshold_pct - policy.threshold_hysteresis_pct,
            forecast_low=None if forecast is None else forecast.low,
            forecast_high=None if forecast is None else forecast.high,
        )
        self._open[record.bin_id] = pickup
        logger.info(
            "pickup %s requested for bin %s (%s, %s, fill %s%%)",
            pickup.pickup_id,
            record.bin_id,
            reason,
            priority,
            f"{fill:.1f}",
        )
        self._publish(record, pickup)

    def _collect(
        self,
        record: BinRecord,
        pickup: PickupRecord,
        *,
        fill_before: float | None,
        before_seq: int,
    ) -> None:
        pickup.manifest = self._store.manifest(
            record.bin_id, record.emptied_seq, before_seq=before_seq
        )
        pickup.status = "collected"
        if fill_before is not None:
            pickup.fill_pct = fill_before
        pickup.closed_at = self._clock()
        pickup.drop_seq = None
        pickup.drop_readings = 0
        del self._open[record.bin_id]
        self._publish(record, pickup, refresh_manifest=False)

    def _publish(
        self, record: BinRecord, pickup: PickupRecord, *, refresh_manifest: bool = True
    ) -> None:
        if refresh_manifest and pickup.open:
            pickup.manifest = self._manifest(record)
        now = self._clock()
        pickup.location = self._location(record, pickup)
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

    # -- what the message carries ---------------------------------------------------

    def known_fill(self, record: BinRecord) -> float:
        """The bin's fill as well as it is known: ``fill_pct`` is never null on the wire.

        The median of the recent readings, else the newest reading since the last
        emptying that had a fill (the sensor may have failed since); with none, 100 %
        while an ``overflow`` alarm is active, else 0 % (nothing measured since the
        bin was emptied, or ever).
        """
        window = self._fills.get(record.bin_id)
        if window:
            return _window_fill(window)
        if record.fill_pct is not None:
            return record.fill_pct
        history = self._store.fill_history(
            record.bin_id, after_seq=record.emptied_seq, limit=KNOWN_FILL_LOOKBACK
        )
        for point in reversed(history):
            if point.fill_pct is not None:
                return point.fill_pct
        return 100.0 if record.alarm_active("overflow") else 0.0

    @staticmethod
    def _location(record: BinRecord, pickup: PickupRecord) -> Location:
        """Where the bin stands: ``location`` is never null on the wire.

        The bin's reported location; a known one is kept when a later state message
        leaves it out; ``{lat: null, lon: null}`` while nothing is known.
        """
        for known in (record.location, pickup.location):
            if known is not None and known.lat is not None and known.lon is not None:
                return known
        return record.location or pickup.location or Location(lat=None, lon=None)

    # -- policy ---------------------------------------------------------------------

    def _manifest(self, record: BinRecord) -> dict[str, ManifestEntry]:
        return self._store.manifest(record.bin_id, record.emptied_seq)

    def _wanted_priority(
        self, record: BinRecord, pickup: PickupRecord | None, policy: RegionSettings
    ) -> PickupPriority:
        """Fire is urgent; overflow, a locked door, escalation or little time left are high."""
        if record.alarm_active("fire"):
            return "urgent"
        if record.alarm_active("overflow") or record.door == "locked":
            return "high"
        if pickup is not None and pickup.escalated_at is not None:
            return "high"
        forecast = self.forecasts.get(record.bin_id)
        if forecast is not None and forecast.predicted_full_at is not None:
            left = forecast.predicted_full_at - self._clock()
            if left <= timedelta(hours=policy.high_priority_due_hours):
                return "high"
        return "normal"

    @staticmethod
    def _due_in(priority: PickupPriority, policy: RegionSettings) -> timedelta:
        hours = {
            "normal": policy.due_hours,
            "high": policy.high_priority_due_hours,
            "urgent": policy.urgent_due_hours,
        }[priority]
        return timedelta(hours=hours)

    def _raise_priority(
        self, record: BinRecord, pickup: PickupRecord, policy: RegionSettings
    ) -> bool:
        """Raise (never lower) the priority; bring ``due_by`` forward to match."""
        wanted = self._wanted_priority(record, pickup, policy)
        if PRIORITY_RANK[wanted] <= PRIORITY_RANK[pickup.priority]:
            return False
        pickup.priority = wanted
        if pickup.escalated_at is None:
            sooner: datetime = self._clock() + self._due_in(wanted, policy)
            pickup.due_by = min(pickup.due_by, sooner)
        return True

    @staticmethod
    def _drop_is_emptying(pickup: PickupRecord, fill: float, policy: RegionSettings) -> bool:
        """A full-size fall from the pickup's fill (:func:`protocol.emptying.is_emptying`)."""
        before = [x for x in (pickup.fill_pct, pickup.sent_fill_pct) if x is not None]
        if not before:
            return False
        return is_emptying(
            max(before),
            fill,
            drop_pct=policy.emptied_drop_pct,
            below_pct=policy.emptied_below_pct,
        )


def _due_from(forecast: Forecast | None, policy: RegionSettings) -> datetime | None:
    """The forecast time a pickup must be collected by (``due_by_forecast``): the band's
    early end when the region wants it and the forecast has one, else its median."""
    if forecast is None:
        return None
    if policy.due_by_forecast == "low" and forecast.low is not None:
        return forecast.low
    return forecast.predicted_full_at


def _window_fill(window: deque[tuple[int, float]]) -> float:
    """The median fill of a non-empty ``(seq, fill)`` window."""
    if len(window) == 1:  # the default window: no median to take (ingest's hot path)
        return float(window[0][1])
    return float(statistics.median(value for _, value in window))
