"""The ``bins`` table in SQLite: each bin's current state, saved whole by the writer.

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore`. The writer keeps every
bin in memory and saves the records a batch changed in that batch's transaction;
alarms, faults and health are JSON columns, read back as the domain's records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from cloud_bridge.domain.records import BinRecord, Flag, HealthSnapshot
from cloud_bridge.store.sqlite.connection import Connection
from cloud_bridge.store.sqlite.timestamps import dt as _dt
from cloud_bridge.store.sqlite.timestamps import ts as _ts
from protocol import Location

_BIN_COLUMNS = (
    "bin_id, region, lat, lon, registered_at, online, bd_seq, state_reason, agent_version, "
    "config_version, last_seq, stored_seq, last_ts, clock_synced, last_seen, telemetry_seq, "
    "fill_pct, fill_mm, weight_kg, temp_c, door, deposits_since_empty, emptied_seq, alarms, "
    "faults, health_seq, config_seq, pickup_hold, offline_since, health, desired_version, "
    "desired_at, reported_version, reported_status, reported_error, reported_at"
)
_BIN_WIDTH = 36


def _flags_json(flags: dict[str, Flag]) -> str:
    return json.dumps({key: [flag.active, flag.seq, flag.detail] for key, flag in flags.items()})


def _flags(text: str) -> dict[str, Flag]:
    """Flags as ``[active, seq]`` (before 008) or ``[active, seq, detail]``."""
    return {
        key: Flag(bool(value[0]), int(value[1]), value[2] if len(value) > 2 else None)
        for key, value in json.loads(text).items()
    }


def _health_json(health: HealthSnapshot | None) -> str | None:
    return None if health is None else json.dumps(health.as_json())


def _health(text: str | None) -> HealthSnapshot | None:
    return None if text is None else HealthSnapshot.from_json(json.loads(text))


class BinTableMixin:
    """SQL of the ``bins`` table."""

    _db: Connection

    def save_bins(self, bins: Iterable[BinRecord]) -> None:
        """``INSERT OR REPLACE`` of whole records."""
        self._db.executemany(
            f"INSERT OR REPLACE INTO bins ({_BIN_COLUMNS}) VALUES ({', '.join('?' * _BIN_WIDTH)})",
            [
                (
                    b.bin_id,
                    b.region,
                    b.location.lat if b.location else None,
                    b.location.lon if b.location else None,
                    _ts(b.registered_at),
                    int(b.online),
                    b.bd_seq,
                    b.state_reason,
                    b.agent_version,
                    b.config_version,
                    b.last_seq,
                    b.stored_seq,
                    _ts(b.last_ts),
                    None if b.clock_synced is None else int(b.clock_synced),
                    _ts(b.last_seen),
                    b.telemetry_seq,
                    b.fill_pct,
                    b.fill_mm,
                    b.weight_kg,
                    b.temp_c,
                    b.door,
                    b.deposits_since_empty,
                    b.emptied_seq,
                    _flags_json(b.alarms),
                    _flags_json(b.faults),
                    b.health_seq,
                    b.config_seq,
                    int(b.pickup_hold),
                    _ts(b.offline_since),
                    _health_json(b.health),
                    b.desired_version,
                    _ts(b.desired_at),
                    b.reported_version,
                    b.reported_status,
                    b.reported_error,
                    _ts(b.reported_at),
                )
                for b in bins
            ],
        )

    def load_bins(self) -> list[BinRecord]:
        """Every bin record, ordered by id."""
        rows = self._db.execute(f"SELECT {_BIN_COLUMNS} FROM bins ORDER BY bin_id")
        return [self._bin(row) for row in rows]

    def get_bin(self, bin_id: str) -> BinRecord | None:
        """One row of ``bins``."""
        row = self._db.execute(
            f"SELECT {_BIN_COLUMNS} FROM bins WHERE bin_id = ?", (bin_id,)
        ).fetchone()
        return None if row is None else self._bin(row)

    @staticmethod
    def _bin(row: Any) -> BinRecord:
        (
            bin_id, region, lat, lon, registered_at, online, bd_seq, state_reason,
            agent_version, config_version, last_seq, stored_seq, last_ts, clock_synced, last_seen,
            telemetry_seq, fill_pct, fill_mm, weight_kg, temp_c, door, deposits_since_empty,
            emptied_seq, alarms, faults, health_seq, config_seq, pickup_hold, offline_since,
            health, desired_version, desired_at, reported_version, reported_status,
            reported_error, reported_at,
        ) = row  # fmt: skip
        location = None if lat is None and lon is None else Location(lat=lat, lon=lon)
        return BinRecord(
            bin_id=bin_id,
            region=region,
            location=location,
            registered_at=_dt(registered_at),
            online=bool(online),
            bd_seq=bd_seq,
            state_reason=state_reason,
            agent_version=agent_version,
            config_version=config_version,
            last_seq=last_seq,
            stored_seq=stored_seq,
            last_ts=_dt(last_ts),
            clock_synced=None if clock_synced is None else bool(clock_synced),
            last_seen=_dt(last_seen),
            telemetry_seq=telemetry_seq,
            fill_pct=fill_pct,
            fill_mm=fill_mm,
            weight_kg=weight_kg,
            temp_c=temp_c,
            door=door,
            deposits_since_empty=deposits_since_empty,
            emptied_seq=emptied_seq,
            alarms=_flags(alarms),
            faults=_flags(faults),
            health_seq=health_seq,
            config_seq=config_seq,
            pickup_hold=bool(pickup_hold),
            offline_since=_dt(offline_since),
            health=_health(health),
            desired_version=desired_version,
            desired_at=_dt(desired_at),
            reported_version=reported_version,
            reported_status=reported_status,
            reported_error=reported_error,
            reported_at=_dt(reported_at),
        )
