"""Pickup policy and lifecycle: when to ask for a pickup, when to tell schedulers again.

One open pickup per bin. It is requested when a bin's newest fill reaches its
region's threshold (or when the bin raises an ``overflow`` alarm), updated in place
when the bin crosses the threshold again, its fill moves by a region's step or its
priority rises, and collected on evidence: an ``emptied`` event newer than the request
(or naming it) or a clear drop of fill. Every change is saved and put in the outbox
in the batch's transaction; the bridge publishes the outbox after the commit, so a
pickup that was decided is never lost between the database and the broker.

Forecasts, escalation and webhooks come later as further methods of this service.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from cloud_bridge.clock import Clock
from cloud_bridge.fleet import Fleet
from cloud_bridge.records import BinRecord, PickupRecord, Publication
from cloud_bridge.settings import BridgeSettings, RegionSettings
from cloud_bridge.store import Store
from protocol import (
    AlarmEvent,
    DepositEvent,
    EmptiedEvent,
    ManifestEntry,
    PickupPriority,
    PickupReason,
    Telemetry,
    encode,
    pickups_topic,
)

logger = logging.getLogger(__name__)

_PRIORITY_RANK: dict[str, int] = {"normal": 0, "high": 1, "urgent": 2}


def pickup_id_for(bin_id: str, seq: int) -> str:
    """A deterministic id from the message that raised the pickup (replays give the same)."""
    digest = hashlib.sha256(f"{bin_id}:{seq}".encode()).hexdigest()
    return f"pk-{digest[:24]}"


class PickupService:
    """Raises, updates and closes pickups; queues what schedulers must be told."""

    def __init__(self, settings: BridgeSettings, store: Store, clock: Clock) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._open: dict[str, PickupRecord] = {}
        self._queued: list[Publication] = []

    def load(self, pickups: Iterable[PickupRecord]) -> None:
        """Take the open pickups from the store (at start, or after a rollback)."""
        self._open = {p.bin_id: p for p in pickups if p.open}
        self._queued.clear()

    def open_pickup(self, bin_id: str) -> PickupRecord | None:
        """The bin's open pickup, if any."""
        return self._open.get(bin_id)

    def take_publications(self) -> list[Publication]:
        """Publications queued since the last call (call after the commit)."""
        queued, self._queued = self._queued, []
        return queued

    # -- events ---------------------------------------------------------------------

    def on_telemetry(self, record: BinRecord, telemetry: Telemetry) -> None:
        """React to the bin's newest measurements."""
        fill = telemetry.fill_pct
        if fill is None:
            return
        policy = self._settings.region(record.region)
        pickup = self._open.get(record.bin_id)
        if pickup is None:
            if fill >= policy.pickup_threshold_pct:
                self._request(record, "threshold", telemetry.seq, fill)
            return
        if telemetry.seq <= pickup.trigger_seq:
            return
        if self._drop_is_emptying(pickup, fill, policy):
            logger.info(
                "bin %s fill fell from %.1f%% to %.1f%%: pickup %s collected",
                record.bin_id,
                pickup.fill_pct or 0.0,
                fill,
                pickup.pickup_id,
            )
            self._collect(record, pickup, fill_before=pickup.fill_pct, before_seq=telemetry.seq)
            Fleet.mark_emptied(record, telemetry.seq)
            return
        crossed = False
        if fill < policy.pickup_threshold_pct:
            pickup.below_threshold = True
        elif pickup.below_threshold:
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

    def on_alarm(self, record: BinRecord, alarm: AlarmEvent) -> None:
        """An active ``overflow`` alarm raises the priority, or a pickup if none is open."""
        if alarm.kind != "overflow" or not alarm.active:
            return
        pickup = self._open.get(record.bin_id)
        if pickup is None:
            self._request(record, "alarm", alarm.seq, record.fill_pct)
            return
        policy = self._settings.region(record.region)
        if self._raise_priority(record, pickup, policy):
            self._publish(record, pickup)

    # -- lifecycle ------------------------------------------------------------------

    def _request(
        self, record: BinRecord, reason: PickupReason, seq: int, fill: float | None
    ) -> None:
        policy = self._settings.region(record.region)
        now = self._clock()
        priority = self._wanted_priority(record)
        pickup = PickupRecord(
            pickup_id=pickup_id_for(record.bin_id, seq),
            bin_id=record.bin_id,
            region=record.region,
            status="requested",
            priority=priority,
            reason=reason,
            fill_pct=fill,
            predicted_full_at=None,
            due_by=now + self._due_in(priority, policy),
            location=record.location,
            manifest=self._manifest(record),
            ts=now,
            requested_at=now,
            trigger_seq=seq,
        )
        self._open[record.bin_id] = pickup
        logger.info(
            "pickup %s requested for bin %s (%s, %s, fill %s%%)",
            pickup.pickup_id,
            record.bin_id,
            reason,
            priority,
            "?" if fill is None else f"{fill:.1f}",
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
        pickup.fill_pct = fill_before
        pickup.closed_at = self._clock()
        del self._open[record.bin_id]
        self._publish(record, pickup, refresh_manifest=False)

    def _publish(
        self, record: BinRecord, pickup: PickupRecord, *, refresh_manifest: bool = True
    ) -> None:
        if refresh_manifest and pickup.open:
            pickup.manifest = self._manifest(record)
        now = self._clock()
        pickup.location = record.location
        pickup.ts = now
        pickup.sent_fill_pct = pickup.fill_pct
        pickup.sent_priority = pickup.priority
        pickup.sent_manifest = dict(pickup.manifest)
        pickup.sent_at = now
        self._store.save_pickup(pickup)
        topic = pickups_topic(pickup.region)
        payload = encode(pickup.message())
        publication_id = self._store.queue_publication(topic, payload)
        self._queued.append(Publication(id=publication_id, topic=topic, payload=payload))

    # -- policy ---------------------------------------------------------------------

    def _manifest(self, record: BinRecord) -> dict[str, ManifestEntry]:
        return self._store.manifest(record.bin_id, record.emptied_seq)

    @staticmethod
    def _wanted_priority(record: BinRecord) -> PickupPriority:
        if record.alarm_active("overflow") or record.door == "locked":
            return "high"
        return "normal"

    @staticmethod
    def _due_in(priority: PickupPriority, policy: RegionSettings) -> timedelta:
        hours = policy.due_hours if priority == "normal" else policy.high_priority_due_hours
        return timedelta(hours=hours)

    def _raise_priority(
        self, record: BinRecord, pickup: PickupRecord, policy: RegionSettings
    ) -> bool:
        """Raise (never lower) the priority; bring ``due_by`` forward to match."""
        wanted = self._wanted_priority(record)
        if _PRIORITY_RANK[wanted] <= _PRIORITY_RANK[pickup.priority]:
            return False
        pickup.priority = wanted
        sooner: datetime = self._clock() + self._due_in(wanted, policy)
        pickup.due_by = min(pickup.due_by, sooner)
        return True

    @staticmethod
    def _drop_is_emptying(pickup: PickupRecord, fill: float, policy: RegionSettings) -> bool:
        before = [x for x in (pickup.fill_pct, pickup.sent_fill_pct) if x is not None]
        if not before or fill > policy.emptied_below_pct:
            return False
        return max(before) - fill >= policy.emptied_drop_pct
