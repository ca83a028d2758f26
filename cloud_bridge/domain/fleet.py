"""Each bin's current state and presence, kept in memory by the writer thread.

Every kind of report moves the state forward only when its ``seq`` is newer than the
one the current value came from, so late or redelivered messages never roll a bin
back. Presence follows the birth/death rule of the contract: a state message counts
only if its ``(bd_seq, death-after-birth)`` is newer than the current one, so a
stale Will from an earlier connection never marks a live bin offline, and retained
births redelivered when the bridge starts change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from cloud_bridge.domain.records import BinRecord, Flag, HealthSnapshot
from protocol import (
    AlarmEvent,
    ConfigReported,
    EmptiedEvent,
    Envelope,
    FaultEvent,
    Health,
    State,
    Telemetry,
)

logger = logging.getLogger(__name__)


class Fleet:
    """The bins the bridge knows, with the set changed since the last :meth:`take_dirty`."""

    def __init__(self, bins: Iterable[BinRecord], *, default_region: str) -> None:
        self.default_region = default_region
        self._bins = {record.bin_id: record for record in bins}
        self._dirty: set[str] = set()

    def __len__(self) -> int:
        return len(self._bins)

    def get(self, bin_id: str) -> BinRecord | None:
        """The record of ``bin_id``, if the bin has ever been heard of."""
        return self._bins.get(bin_id)

    def all(self) -> list[BinRecord]:
        """Every record, by bin id."""
        return [self._bins[key] for key in sorted(self._bins)]

    def touch(self, bin_id: str) -> None:
        """Mark a record changed by something other than a message (a scheduler's action)."""
        if bin_id in self._bins:
            self._dirty.add(bin_id)

    def take_dirty(self) -> list[BinRecord]:
        """The records changed since the last call (to save them in one statement)."""
        dirty = [self._bins[key] for key in sorted(self._dirty)]
        self._dirty.clear()
        return dirty

    def reset(self, bins: Iterable[BinRecord]) -> None:
        """Replace the whole state (after a rolled-back batch, from the store)."""
        self._bins = {record.bin_id: record for record in bins}
        self._dirty.clear()

    def ensure(self, bin_id: str) -> BinRecord:
        """The record of ``bin_id``; an unregistered one (never heard from) if it is new,
        e.g. a bin whose desired configuration the bridge found on the broker."""
        record = self._bins.get(bin_id)
        if record is None:
            record = BinRecord(bin_id=bin_id, region=self.default_region)
            self._bins[bin_id] = record
            self._dirty.add(bin_id)
        return record

    def heard(self, message: Envelope, now: datetime) -> BinRecord:
        """Note that ``message`` arrived from its bin; create an unregistered record if new."""
        record = self._bins.get(message.bin_id)
        if record is None:
            record = BinRecord(bin_id=message.bin_id, region=self.default_region)
            self._bins[message.bin_id] = record
            logger.info("first message from unregistered bin %s", message.bin_id)
        record.last_seen = now
        if message.seq > record.last_seq:
            record.last_seq = message.seq
            record.last_ts = message.ts
            record.clock_synced = message.clock_synced
        self._dirty.add(message.bin_id)
        return record

    def apply_state(self, record: BinRecord, state: State, now: datetime) -> bool:
        """Apply a birth or death if it is newer than the current presence.

        Returns whether it changed the presence; an equal one (a retained birth seen
        again) or an older one (a stale Will) is not applied.
        """
        incoming = (state.bd_seq, 0 if state.online else 1)
        if record.bd_seq is not None:
            current = (record.bd_seq, 0 if record.online else 1)
            if incoming <= current:
                if incoming < current:
                    logger.info(
                        "stale %s of %s ignored: bd_seq %d, current %d",
                        "birth" if state.online else "death",
                        state.bin_id,
                        state.bd_seq,
                        record.bd_seq,
                    )
                return False
        record.bd_seq = state.bd_seq
        if state.online:
            record.offline_since = None
        elif record.online or record.offline_since is None:
            record.offline_since = now
        record.online = state.online
        record.state_reason = state.reason
        record.region = state.region
        record.location = state.location
        record.agent_version = state.agent_version
        record.config_version = state.config_version
        if state.online and record.registered_at is None:
            record.registered_at = now
            logger.info("bin %s registered in region %s", state.bin_id, state.region)
        return True

    @staticmethod
    def apply_telemetry(record: BinRecord, telemetry: Telemetry) -> bool:
        """Take the measurements if they are the newest; return whether they were."""
        if telemetry.seq <= record.telemetry_seq:
            return False
        record.telemetry_seq = telemetry.seq
        record.fill_pct = telemetry.fill_pct
        record.fill_mm = telemetry.fill_mm
        record.weight_kg = telemetry.weight_kg
        record.temp_c = telemetry.temp_c
        record.door = telemetry.door
        record.deposits_since_empty = telemetry.deposits_since_empty
        return True

    @staticmethod
    def apply_emptied(record: BinRecord, event: EmptiedEvent) -> bool:
        """Move the manifest baseline to this emptying if it is the newest."""
        if event.seq <= record.emptied_seq:
            return False
        record.emptied_seq = event.seq
        return True

    @staticmethod
    def mark_emptied(record: BinRecord, seq: int) -> None:
        """Move the manifest baseline on other evidence of emptying (a clear fill drop)."""
        record.emptied_seq = max(record.emptied_seq, seq)

    @staticmethod
    def apply_alarm(record: BinRecord, event: AlarmEvent) -> bool:
        """Update one alarm if this report is its newest; return whether it was."""
        flag = record.alarms.get(event.kind)
        if flag is not None and event.seq <= flag.seq:
            return False
        record.alarms[event.kind] = Flag(event.active, event.seq, event.detail)
        return True

    @staticmethod
    def apply_fault(record: BinRecord, event: FaultEvent) -> bool:
        """Update one component fault if this report is its newest."""
        key = f"{event.component}/{event.code}"
        flag = record.faults.get(key)
        if flag is not None and event.seq <= flag.seq:
            return False
        record.faults[key] = Flag(event.active, event.seq, event.detail)
        return True

    @staticmethod
    def apply_health(record: BinRecord, health: Health) -> bool:
        """Take versions and the figures tickets watch from the newest health report.

        The bridge's counters on those figures (drift, backlog) carry over; the ticket
        service moves them on.
        """
        if health.seq <= record.health_seq:
            return False
        record.health_seq = health.seq
        record.agent_version = health.agent_version
        record.config_version = health.config_version
        previous = record.health
        snapshot = HealthSnapshot(
            disk_free_mb=health.disk_free_mb,
            outbox_depth=health.outbox_depth,
            outbox_oldest_s=health.outbox_oldest_s,
            sensors=dict(health.sensors),
            tray_idle_g=health.tray_idle_g,
        )
        if previous is not None:
            snapshot.drift_over = previous.drift_over
            snapshot.drift_within = previous.drift_within
            snapshot.drifting = previous.drifting
            snapshot.backlog_since = previous.backlog_since
        record.health = snapshot
        return True

    @staticmethod
    def apply_config_reported(record: BinRecord, report: ConfigReported, now: datetime) -> bool:
        """Remember the bin's newest report; an applied version becomes its current one."""
        if report.seq <= record.config_seq:
            return False
        record.config_seq = report.seq
        record.reported_version = report.version
        record.reported_status = report.status
        record.reported_error = report.error
        record.reported_at = now
        if report.status == "applied":
            record.config_version = report.version
        return True
