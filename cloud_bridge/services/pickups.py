"""Pickup policy: when to ask for a pickup, when to tell schedulers again.

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

How urgent a pickup is and when it is due are pure rules
(:mod:`cloud_bridge.domain.pickup_rules`); requesting, publishing and collecting it
are the lifecycle's actions (:mod:`cloud_bridge.services.pickup_lifecycle`), which
save and queue every change in the transaction of the batch, tick or action that made
it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from cloud_bridge.clock import Clock
from cloud_bridge.config.pickups import RegionSettings
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.fleet import Fleet
from cloud_bridge.domain.pickup_rules import (
    due_from,
    raise_priority,
    tick_pickup_id,
)
from cloud_bridge.domain.records import BinRecord, PickupRecord
from cloud_bridge.errors import Conflict, InvalidAction, NotFound
from cloud_bridge.services.forecasts import ForecastService
from cloud_bridge.services.notifier import Notifier
from cloud_bridge.services.pickup_lifecycle import PickupLifecycle
from cloud_bridge.store.protocols import Store
from protocol import (
    AlarmEvent,
    DepositEvent,
    EmptiedEvent,
    Telemetry,
)
from protocol.emptying import is_emptying

logger = logging.getLogger(__name__)

SCHEDULE_PAST_TOLERANCE = timedelta(hours=1)
"""How far in the past a scheduler may still date a planned collection (clock skew)."""


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
        self.forecasts = forecasts
        self.lifecycle = PickupLifecycle(settings, store, clock, notifier, forecasts)
        """The open pickups and the actions that request, publish and collect them."""

    def load(self, pickups: Iterable[PickupRecord]) -> None:
        """Take the open pickups from the store (at start, or after a rollback)."""
        self.lifecycle.load(pickups)

    def open_pickup(self, bin_id: str) -> PickupRecord | None:
        """The bin's open pickup, if any."""
        return self.lifecycle.open.get(bin_id)

    # -- bin messages -----------------------------------------------------------------

    def on_telemetry(self, record: BinRecord, telemetry: Telemetry) -> None:
        """React to the bin's newest measurements."""
        raw = telemetry.fill_pct
        if raw is None:
            return
        self.forecasts.mark(record.bin_id)
        policy = self._settings.region(record.region)
        fill = self.lifecycle.smoothed_fill(record, telemetry.seq, raw)
        pickup = self.lifecycle.open.get(record.bin_id)
        if pickup is None:
            if fill >= policy.pickup_threshold_pct and not record.pickup_hold:
                self.lifecycle.request(record, "threshold", telemetry.seq, fill)
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
            self.lifecycle.collect(record, pickup, fill_before=pickup.fill_pct, before_seq=drop_seq)
            Fleet.mark_emptied(record, drop_seq)
            self.after_emptying(record)
            return
        pickup.drop_seq = None
        pickup.drop_readings = 0
        crossed = False
        if fill < policy.pickup_threshold_pct - policy.threshold_hysteresis_pct:
            pickup.below_threshold = True
            if self._contradicted(record, pickup, fill, policy):
                self.lifecycle.withdraw(
                    record,
                    pickup,
                    f"withdrawn: the fill fell back to {fill:.0f}% without an emptying "
                    f"(the {pickup.reason} reading was wild)",
                )
                return
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
            self.lifecycle.publish(record, pickup)
        else:
            self._store.save_pickup(pickup)

    def on_deposit(self, record: BinRecord, deposit: DepositEvent) -> None:
        """An accepted deposit changes the open pickup's manifest."""
        pickup = self.lifecycle.open.get(record.bin_id)
        if pickup is None or not deposit.accepted or deposit.seq <= record.emptied_seq:
            return
        manifest = self.lifecycle.manifest(record)
        if manifest == pickup.manifest:
            return
        pickup.manifest = manifest
        policy = self._settings.region(record.region)
        now = self._clock()
        if pickup.sent_at is None or (now - pickup.sent_at).total_seconds() >= (
            policy.manifest_republish_min_s
        ):
            self.lifecycle.publish(record, pickup)
        else:
            self._store.save_pickup(pickup)

    def on_emptied(self, record: BinRecord, event: EmptiedEvent) -> None:
        """Collect the open pickup on an emptying that happened after its request.

        Call before the fleet moves the manifest baseline, so the collected manifest
        is what was in the bin until this emptying.
        """
        pickup = self.lifecycle.open.get(record.bin_id)
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
        self.lifecycle.collect(
            record,
            pickup,
            fill_before=pickup.fill_pct if fill_before is None else fill_before,
            before_seq=event.seq,
        )

    def after_emptying(self, record: BinRecord) -> None:
        """The bin's manifest baseline moved: forecast afresh, lift a cancellation's hold."""
        record.pickup_hold = False
        self.lifecycle.forget_fills(record.bin_id)
        self.forecasts.reset(record.bin_id)

    def on_alarm(self, record: BinRecord, alarm: AlarmEvent) -> None:
        """An active ``overflow`` (high) or ``fire`` (urgent) alarm raises the priority.

        On a bin without an open pickup it requests one at once (even after a
        cancellation: an alarm is new information).
        """
        if alarm.kind not in ("overflow", "fire") or not alarm.active:
            return
        pickup = self.lifecycle.open.get(record.bin_id)
        if pickup is None:
            self.lifecycle.request(record, "alarm", alarm.seq, None)
            return
        policy = self._settings.region(record.region)
        if self._raise_priority(record, pickup, policy):
            self.lifecycle.publish(record, pickup)

    # -- time -------------------------------------------------------------------------

    def tick(self) -> None:
        """Time-based policy: forecasts, forecast requests, escalation, time-left priority."""
        now = self._clock()
        bins = {record.bin_id: record for record in self._fleet.all()}
        refreshed = set(self.forecasts.refresh(bins, now))
        for bin_id, record in bins.items():
            pickup = self.lifecycle.open.get(bin_id)
            if pickup is None:
                # Every tick, not only after a new reading: a quiet bin's predicted full
                # time comes nearer too, and must still enter the lead time.
                self._maybe_forecast_request(record, now)
            elif bin_id in refreshed:
                self._follow_forecast(record, pickup, now)
        for pickup in list(self.lifecycle.open.values()):
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
                self.lifecycle.publish(owner, pickup)
            elif self._raise_priority(owner, pickup, policy):
                self.lifecycle.publish(owner, pickup)

    def _maybe_forecast_request(self, record: BinRecord, now: datetime) -> None:
        forecast = self.forecasts.get(record.bin_id)
        if forecast is None or forecast.predicted_full_at is None or record.pickup_hold:
            return
        policy = self._settings.region(record.region)
        if forecast.method == "linear" and forecast.span_hours < policy.forecast_request_min_hours:
            return
        if forecast.predicted_full_at - now <= timedelta(hours=policy.lead_time_hours):
            self.lifecycle.request(
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
        expected = due_from(forecast, policy)
        if expected is not None and pickup.escalated_at is None:
            due = max(expected, now + timedelta(hours=policy.urgent_due_hours))
            if pickup.due_by - due >= step:  # hysteresis: no creeping by minutes
                pickup.due_by = due
                sooner = True
        raised = self._raise_priority(record, pickup, policy)
        if moved or sooner or raised:
            self.lifecycle.publish(record, pickup)
        else:
            self._store.save_pickup(pickup)

    # -- schedulers' actions ----------------------------------------------------------

    def acknowledge(self, pickup_id: str, actor: str) -> PickupRecord:
        """A scheduler has seen the request (idempotent: a second call changes nothing)."""
        record, pickup = self._actionable(pickup_id, "acknowledge")
        if pickup.acknowledged_at is None:
            pickup.acknowledged_at = self._clock()
            logger.info("pickup %s acknowledged by %s", pickup_id, actor)
            self.lifecycle.publish(record, pickup)
        return pickup

    def schedule(
        self,
        pickup_id: str,
        when: datetime,
        actor: str,
        note: str | None = None,
        *,
        confirm: bool = False,
    ) -> PickupRecord:
        """A scheduler plans the collection for ``when``: never in the past (422), and
        after ``due_by`` only when ``confirm`` says the lateness is meant (409 otherwise).
        The API and the dashboard both come here, so they refuse the same times."""
        record, pickup = self._actionable(pickup_id, "schedule")
        now = self._clock()
        if when < now - SCHEDULE_PAST_TOLERANCE:
            raise InvalidAction(
                f"scheduled_for {when.isoformat()} is in the past (now {now.isoformat()})",
                field="scheduled_for",
            )
        if when > pickup.due_by and not confirm:
            raise Conflict(
                f"scheduled_for {when.isoformat()} is after the pickup's due_by "
                f"{pickup.due_by.isoformat()}: confirm to schedule it late",
                field="confirm",
            )
        pickup.status = "scheduled"
        pickup.scheduled_for = when
        pickup.note = note
        if pickup.acknowledged_at is None:
            pickup.acknowledged_at = now
        logger.info("pickup %s scheduled for %s by %s", pickup_id, when.isoformat(), actor)
        self.lifecycle.publish(record, pickup)
        return pickup

    def cancel(self, pickup_id: str, reason: str, actor: str) -> PickupRecord:
        """A scheduler withdraws the request; no automatic one follows until the bin is emptied."""
        record, pickup = self._actionable(pickup_id, "cancel")
        pickup.status = "cancelled"
        pickup.cancel_reason = reason
        pickup.closed_at = self._clock()
        record.pickup_hold = True
        self._fleet.touch(record.bin_id)
        del self.lifecycle.open[record.bin_id]
        logger.info("pickup %s cancelled by %s: %s", pickup_id, actor, reason)
        self.lifecycle.publish(record, pickup, refresh_manifest=False)
        return pickup

    def _actionable(self, pickup_id: str, action: str) -> tuple[BinRecord, PickupRecord]:
        pickup = next((p for p in self.lifecycle.open.values() if p.pickup_id == pickup_id), None)
        if pickup is None:
            stored = self._store.get_pickup(pickup_id)
            if stored is None:
                raise NotFound(f"no pickup {pickup_id!r}", field="pickup_id")
            raise Conflict(f"cannot {action} pickup {pickup_id}: it is {stored.status}")
        record = self._fleet.get(pickup.bin_id)
        if record is None:
            raise Conflict(f"cannot {action} pickup {pickup_id}: bin {pickup.bin_id} is unknown")
        return record, pickup

    def _raise_priority(
        self, record: BinRecord, pickup: PickupRecord, policy: RegionSettings
    ) -> bool:
        """Raise (never lower) the priority; bring ``due_by`` forward to match."""
        return raise_priority(
            record, pickup, policy, self.forecasts.get(record.bin_id), self._clock()
        )

    def _contradicted(
        self, record: BinRecord, pickup: PickupRecord, fill: float, policy: RegionSettings
    ) -> bool:
        """Whether a threshold or alarm pickup rests on a reading the bin's later readings
        deny: its fill is back under the threshold (less the hysteresis), a full-size
        fall (``emptied_drop_pct``) from the pickup's fill that is no emptying (it ends
        above ``emptied_below_pct``), with no alarm or locked door and no forecast
        putting the bin full within the lead time. Bins do not lose a third of their
        contents by themselves: the reading that raised the pickup was wild (a wall
        echo). Noise around the threshold is not that. A pickup a scheduler already
        planned is left to the crew."""
        if pickup.reason not in ("threshold", "alarm") or pickup.status == "scheduled":
            return False
        before = max(x for x in (pickup.fill_pct, pickup.sent_fill_pct, 0.0) if x is not None)
        if before - fill < policy.emptied_drop_pct or fill <= policy.emptied_below_pct:
            return False
        if record.door == "locked" or any(
            record.alarm_active(kind) for kind in ("overflow", "fire")
        ):
            return False
        forecast = self.forecasts.get(record.bin_id)
        if forecast is not None and forecast.predicted_full_at is not None:
            left = forecast.predicted_full_at - self._clock()
            if left <= timedelta(hours=policy.lead_time_hours):
                return False
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
