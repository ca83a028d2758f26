"""Queries over stored readings and deposits: fill history, deposit times and rows, manifests.

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore`. Forecasts, exports
and pickup manifests read here; date ranges bound the indexed reading time
(:data:`~cloud_bridge.store.sqlite.migrations.READING_AT`), the bin's clock when synced.
"""

from __future__ import annotations

from datetime import datetime

from cloud_bridge.domain.records import DepositRow
from cloud_bridge.store.protocols import FillPoint
from cloud_bridge.store.sqlite.connection import Connection
from cloud_bridge.store.sqlite.migrations import READING_AT as _AT
from cloud_bridge.store.sqlite.timestamps import dt as _dt
from cloud_bridge.store.sqlite.timestamps import fmt as _fmt
from cloud_bridge.store.sqlite.timestamps import parse as _parse
from protocol import ManifestEntry


class ReadingQueriesMixin:
    """SQL that reads the ``telemetry`` and ``deposits`` tables."""

    _db: Connection

    def manifest(
        self, bin_id: str, after_seq: int, before_seq: int | None = None
    ) -> dict[str, ManifestEntry]:
        """Aggregated from the ``deposits`` table."""
        upper = "" if before_seq is None else f"AND seq < {int(before_seq)}"
        rows = self._db.execute(
            "SELECT category, COUNT(*), SUM(weight_g) FROM deposits "
            f"WHERE bin_id = ? AND seq > ? {upper} AND accepted = 1 "
            "GROUP BY category ORDER BY category",
            (bin_id, after_seq),
        )
        return {
            category: ManifestEntry(count=count, kg=round((grams or 0.0) / 1000.0, 3))
            for category, count, grams in rows
        }

    def fill_history(
        self,
        bin_id: str,
        *,
        after_seq: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[FillPoint]:
        """From the ``telemetry`` table (the newest ``limit`` rows, in ``seq`` order);
        ``since`` and ``until`` bound :attr:`FillPoint.at` (bin time when synced)."""
        where = ["bin_id = ?", "seq > ?"]
        args: list[object] = [bin_id, after_seq]
        if since is not None:
            where.append(f"{_AT} >= ?")
            args.append(_fmt(since))
        if until is not None:
            where.append(f"{_AT} < ?")
            args.append(_fmt(until))
        sql = (
            "SELECT seq, ts, fill_pct, weight_kg, received_at, clock_synced, door FROM telemetry "
            f"WHERE {' AND '.join(where)} ORDER BY seq DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        points = [
            FillPoint(
                seq=q,
                ts=_parse(t),
                fill_pct=f,
                weight_kg=w,
                received_at=_dt(r),
                clock_synced=None if c is None else bool(c),
                door=d,
            )
            for q, t, f, w, r, c, d in self._db.execute(sql, args)
        ]
        points.reverse()
        return points

    def fill_series(
        self, bin_id: str, *, after_seq: int = 0, since: datetime | None = None
    ) -> list[tuple[datetime, float | None, str | None]]:
        """From the ``telemetry`` table: ``(at, fill_pct, door)`` in ``seq`` order."""
        where = "bin_id = ? AND seq > ?"
        args: list[object] = [bin_id, after_seq]
        if since is not None:
            where += f" AND {_AT} >= ?"
            args.append(_fmt(since))
        rows = self._db.execute(
            f"SELECT {_AT}, fill_pct, door FROM telemetry WHERE {where} ORDER BY seq", args
        )
        return [(_parse(at), fill, door) for at, fill, door in rows]

    def door_changes(self, bin_id: str, since: datetime) -> list[tuple[datetime, str | None]]:
        """From the ``telemetry`` table: readings at or after a ``locked`` door."""
        rows = self._db.execute(
            "SELECT at, door FROM ("
            f"  SELECT seq, {_AT} AS at, door, LAG(door) OVER (ORDER BY seq) AS before"
            f"  FROM telemetry WHERE bin_id = ? AND {_AT} >= ?"
            ") WHERE door = 'locked' OR before = 'locked' ORDER BY seq",
            (bin_id, _fmt(since)),
        )
        return [(_parse(at), door) for at, door in rows]

    def deposit_times(self, bin_id: str, since: datetime) -> list[datetime]:
        """Accepted deposits' bin times (reception time when the bin's clock was unsynced)."""
        rows = self._db.execute(
            "SELECT ts, received_at, clock_synced FROM deposits "
            f"WHERE bin_id = ? AND accepted = 1 AND {_AT} >= ? ORDER BY seq",
            (bin_id, _fmt(since)),
        )
        return [
            _parse(received if synced == 0 and received is not None else ts)
            for ts, received, synced in rows
        ]

    def list_deposits(
        self,
        *,
        bin_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        category: str | None = None,
        accepted: bool | None = None,
        limit: int | None = None,
    ) -> list[DepositRow]:
        """From the ``deposits`` table, by bin time (reception time when unsynced)."""
        where: list[str] = []
        args: list[object] = []
        for column, value in (("bin_id", bin_id), ("category", category)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if accepted is not None:
            where.append("accepted = ?")
            args.append(int(accepted))
        if since is not None:
            where.append(f"{_AT} >= ?")
            args.append(_fmt(since))
        if until is not None:
            where.append(f"{_AT} < ?")
            args.append(_fmt(until))
        sql = (
            "SELECT bin_id, seq, deposit_id, ts, received_at, clock_synced, category, confidence, "
            "accepted, reason, weight_g, model FROM deposits"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_AT}, bin_id, seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [
            DepositRow(
                bin_id=b,
                seq=q,
                deposit_id=d,
                ts=_parse(t),
                received_at=_dt(r),
                clock_synced=None if c is None else bool(c),
                category=cat,
                confidence=conf,
                accepted=bool(acc),
                reason=reason,
                weight_g=w,
                model=m,
            )
            for b, q, d, t, r, c, cat, conf, acc, reason, w, m in self._db.execute(sql, args)
        ]
