"""The ``pickups`` table in SQLite: every pickup, its lifecycle and what was last published.

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore`. A partial unique
index keeps one open pickup per bin, so an upsert (never ``INSERT OR REPLACE``) saves
them; manifests are JSON columns.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cloud_bridge.domain.records import OPEN_STATUSES, PickupRecord
from cloud_bridge.store.sqlite.connection import Connection
from cloud_bridge.store.sqlite.timestamps import dt as _dt
from cloud_bridge.store.sqlite.timestamps import fmt as _fmt
from cloud_bridge.store.sqlite.timestamps import ts as _ts
from protocol import Location, ManifestEntry, format_ts, parse_ts

_PICKUP_COLUMNS = (
    "pickup_id, bin_id, region, status, priority, reason, fill_pct, predicted_full_at, due_by, "
    "lat, lon, has_location, manifest, ts, requested_at, trigger_seq, closed_at, crossings, "
    "below_threshold, sent_fill_pct, sent_priority, sent_manifest, sent_at, forecast_low, "
    "forecast_high, acknowledged_at, scheduled_for, escalated_at, cancel_reason, note, drop_seq, "
    "drop_readings, sent_predicted_full_at, revision"
)
_PICKUP_WIDTH = 34


_PICKUP_UPSERT = (
    f"INSERT INTO pickups ({_PICKUP_COLUMNS}) VALUES ({', '.join('?' * _PICKUP_WIDTH)}) "
    "ON CONFLICT (pickup_id) DO UPDATE SET "
    + ", ".join(
        f"{column} = excluded.{column}"
        for column in (c.strip() for c in _PICKUP_COLUMNS.split(","))
        if column != "pickup_id"
    )
)


def _manifest_json(manifest: dict[str, ManifestEntry] | None) -> str | None:
    if manifest is None:
        return None
    return json.dumps({key: [entry.count, entry.kg] for key, entry in manifest.items()})


def _manifest(text: str | None) -> dict[str, ManifestEntry] | None:
    if text is None:
        return None
    return {
        key: ManifestEntry(count=int(count), kg=float(kg))
        for key, (count, kg) in json.loads(text).items()
    }


class PickupTableMixin:
    """SQL of the ``pickups`` table."""

    _db: Connection

    def save_pickup(self, pickup: PickupRecord) -> None:
        """Insert or update by ``pickup_id``; a second open pickup of a bin is an error.

        An upsert rather than ``INSERT OR REPLACE``, which would silently delete the
        other open pickup that the one-open-per-bin index conflicts with.
        """
        p = pickup
        self._db.execute(
            _PICKUP_UPSERT,
            (
                p.pickup_id,
                p.bin_id,
                p.region,
                p.status,
                p.priority,
                p.reason,
                p.fill_pct,
                _ts(p.predicted_full_at),
                format_ts(p.due_by),
                p.location.lat if p.location else None,
                p.location.lon if p.location else None,
                int(p.location is not None),
                _manifest_json(p.manifest),
                format_ts(p.ts),
                format_ts(p.requested_at),
                p.trigger_seq,
                _ts(p.closed_at),
                p.crossings,
                int(p.below_threshold),
                p.sent_fill_pct,
                p.sent_priority,
                _manifest_json(p.sent_manifest),
                _ts(p.sent_at),
                _ts(p.forecast_low),
                _ts(p.forecast_high),
                _ts(p.acknowledged_at),
                _ts(p.scheduled_for),
                _ts(p.escalated_at),
                p.cancel_reason,
                p.note,
                p.drop_seq,
                p.drop_readings,
                _ts(p.sent_predicted_full_at),
                p.revision,
            ),
        )

    def list_pickups(
        self,
        *,
        open_only: bool = False,
        status: str | None = None,
        region: str | None = None,
        bin_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[PickupRecord]:
        """Pickups in request order, filtered by what is given."""
        where: list[str] = []
        args: list[object] = []
        if open_only:
            where.append("status IN (" + ", ".join("?" * len(OPEN_STATUSES)) + ")")
            args.extend(sorted(OPEN_STATUSES))
        for column, value in (("status", status), ("region", region), ("bin_id", bin_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("requested_at >= ?")
            args.append(_fmt(since))
        if until is not None:
            where.append("requested_at < ?")
            args.append(_fmt(until))
        sql = f"SELECT {_PICKUP_COLUMNS} FROM pickups"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY requested_at, pickup_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [self._pickup(row) for row in self._db.execute(sql, args)]

    def get_pickup(self, pickup_id: str) -> PickupRecord | None:
        """One pickup by its id."""
        row = self._db.execute(
            f"SELECT {_PICKUP_COLUMNS} FROM pickups WHERE pickup_id = ?", (pickup_id,)
        ).fetchone()
        return None if row is None else self._pickup(row)

    @staticmethod
    def _pickup(row: Any) -> PickupRecord:
        (
            pickup_id, bin_id, region, status, priority, reason, fill_pct, predicted_full_at,
            due_by, lat, lon, has_location, manifest, ts, requested_at, trigger_seq, closed_at,
            crossings, below_threshold, sent_fill_pct, sent_priority, sent_manifest, sent_at,
            forecast_low, forecast_high, acknowledged_at, scheduled_for, escalated_at,
            cancel_reason, note, drop_seq, drop_readings, sent_predicted_full_at, revision,
        ) = row  # fmt: skip
        return PickupRecord(
            pickup_id=pickup_id,
            bin_id=bin_id,
            region=region,
            status=status,
            priority=priority,
            reason=reason,
            fill_pct=fill_pct,
            predicted_full_at=_dt(predicted_full_at),
            due_by=parse_ts(due_by),
            location=Location(lat=lat, lon=lon) if has_location else None,
            manifest=_manifest(manifest) or {},
            ts=parse_ts(ts),
            requested_at=parse_ts(requested_at),
            trigger_seq=trigger_seq,
            closed_at=_dt(closed_at),
            crossings=crossings,
            below_threshold=bool(below_threshold),
            sent_fill_pct=sent_fill_pct,
            sent_priority=sent_priority,
            sent_manifest=_manifest(sent_manifest),
            sent_at=_dt(sent_at),
            forecast_low=_dt(forecast_low),
            forecast_high=_dt(forecast_high),
            acknowledged_at=_dt(acknowledged_at),
            scheduled_for=_dt(scheduled_for),
            escalated_at=_dt(escalated_at),
            cancel_reason=cancel_reason,
            note=note,
            drop_seq=drop_seq,
            drop_readings=drop_readings,
            sent_predicted_full_at=_dt(sent_predicted_full_at),
            revision=revision,
        )
