"""The receiving facilities' tables in SQLite: intakes (with their pickups and weigh-in
lines), dispositions, inventory movements, and the span of deposits each collected
pickup took away (``pickup_spans``), which traces a deposit to its pickup.

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore`. Manifests declared
with an intake are JSON; ids of dispositions and movements are the database's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from cloud_bridge.domain.facility import (
    DispositionRecord,
    Intake,
    IntakeLine,
    IntakePickup,
    InventoryMovement,
    StockLevel,
)
from cloud_bridge.domain.records import DepositRow, PickupRecord
from cloud_bridge.store.sqlite.connection import Connection
from cloud_bridge.store.sqlite.pickups import _PICKUP_COLUMNS, PickupTableMixin
from cloud_bridge.store.sqlite.timestamps import fmt as _fmt
from protocol import ManifestEntry, parse_ts

_CHUNK = 400
"""Ids per ``IN (...)``: well under SQLite's smallest limit of bound variables."""

_INTAKE_COLUMNS = (
    "intake_id, facility_id, received_at, recorded_at, actor, note, distance_km, distance_estimated"
)
_DISPOSITION_COLUMNS = (
    "disposition_id, intake_id, facility_id, category, disposition, kg, item_count, grade, "
    "note, value, decided_at, actor"
)
_MOVEMENT_COLUMNS = (
    "movement_id, facility_id, category, kg, item_count, reason, intake_id, disposition_id, "
    "at, actor, note"
)


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _marks(ids: Sequence[Any]) -> str:
    return ", ".join("?" * len(ids))


class FacilityTablesMixin:
    """SQL of the facility tables."""

    _db: Connection

    # -- pickup spans ---------------------------------------------------------------------

    def record_pickup_span(
        self, pickup_id: str, bin_id: str, after_seq: int, before_seq: int
    ) -> None:
        """Remember which deposits a collected pickup took: ``after_seq < seq < before_seq``."""
        self._db.execute(
            "INSERT INTO pickup_spans (pickup_id, bin_id, after_seq, before_seq) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (pickup_id) DO UPDATE SET "
            "after_seq = excluded.after_seq, before_seq = excluded.before_seq",
            (pickup_id, bin_id, after_seq, before_seq),
        )

    def pickup_for_deposit(self, bin_id: str, seq: int) -> str | None:
        """The collected pickup that took deposit ``seq`` of ``bin_id``, if one did."""
        row = self._db.execute(
            "SELECT pickup_id FROM pickup_spans WHERE bin_id = ? AND after_seq < ? "
            "AND before_seq > ? ORDER BY before_seq LIMIT 1",
            (bin_id, seq, seq),
        ).fetchone()
        return None if row is None else str(row[0])

    def get_deposit(self, bin_id: str, seq: int) -> DepositRow | None:
        """One stored deposit event by its bin and ``seq``."""
        row = self._db.execute(
            "SELECT bin_id, seq, deposit_id, ts, received_at, clock_synced, category, "
            "confidence, accepted, reason, weight_g, model FROM deposits "
            "WHERE bin_id = ? AND seq = ?",
            (bin_id, seq),
        ).fetchone()
        if row is None:
            return None
        b, q, d, t, r, c, category, confidence, accepted, reason, grams, model = row
        return DepositRow(
            bin_id=b,
            seq=q,
            deposit_id=d,
            ts=parse_ts(t),
            received_at=None if r is None else parse_ts(r),
            clock_synced=None if c is None else bool(c),
            category=category,
            confidence=confidence,
            accepted=bool(accepted),
            reason=reason,
            weight_g=grams,
            model=model,
        )

    def collected_pickups(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        region: str | None = None,
        bin_id: str | None = None,
    ) -> list[PickupRecord]:
        """Collected pickups by the time they were collected (``closed_at``), oldest first."""
        where = ["status = 'collected'"]
        args: list[object] = []
        for column, value in (("region", region), ("bin_id", bin_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("closed_at >= ?")
            args.append(_fmt(since))
        if until is not None:
            where.append("closed_at < ?")
            args.append(_fmt(until))
        rows = self._db.execute(
            f"SELECT {_PICKUP_COLUMNS} FROM pickups WHERE {' AND '.join(where)} "
            "ORDER BY closed_at, pickup_id",
            args,
        )
        return [PickupTableMixin._pickup(row) for row in rows]

    # -- intakes --------------------------------------------------------------------------

    def add_intake(self, intake: Intake) -> None:
        """Store a load with its pickups and lines (a second one with its id conflicts)."""
        self._db.execute(
            f"INSERT INTO intakes ({_INTAKE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                intake.intake_id,
                intake.facility_id,
                _fmt(intake.received_at),
                _fmt(intake.recorded_at),
                intake.actor,
                intake.note,
                intake.distance_km,
                int(intake.distance_estimated),
            ),
        )
        self._db.executemany(
            "INSERT INTO intake_pickups (intake_id, pickup_id, bin_id, region, share, declared) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    intake.intake_id,
                    p.pickup_id,
                    p.bin_id,
                    p.region,
                    p.share,
                    json.dumps({k: [e.count, e.kg] for k, e in sorted(p.declared.items())}),
                )
                for p in intake.pickups
            ],
        )
        self._db.executemany(
            "INSERT INTO intake_lines (intake_id, category, kg, item_count, contaminated_kg) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (intake.intake_id, line.category, line.kg, line.count, line.contaminated_kg)
                for line in intake.lines
            ],
        )

    def get_intake(self, intake_id: str) -> Intake | None:
        """One load by its id."""
        found = self._intakes(
            f"SELECT {_INTAKE_COLUMNS} FROM intakes WHERE intake_id = ?", [intake_id]
        )
        return found[0] if found else None

    def list_intakes(
        self,
        *,
        facility_id: str | None = None,
        bin_id: str | None = None,
        pickup_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Intake]:
        """Loads by the time they were received, then recorded (oldest first unless
        ``newest_first``),
        filtered by facility, by a bin or pickup they hold, and by ``received_at``."""
        where: list[str] = []
        args: list[object] = []
        if facility_id is not None:
            where.append("facility_id = ?")
            args.append(facility_id)
        for column, value in (("bin_id", bin_id), ("pickup_id", pickup_id)):
            if value is not None:
                where.append(
                    f"intake_id IN (SELECT intake_id FROM intake_pickups WHERE {column} = ?)"
                )
                args.append(value)
        if since is not None:
            where.append("received_at >= ?")
            args.append(_fmt(since))
        if until is not None:
            where.append("received_at < ?")
            args.append(_fmt(until))
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT {_INTAKE_COLUMNS} FROM intakes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY received_at {order}, seq {order}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return self._intakes(sql, args)

    def received_shares(self, pickup_ids: Sequence[str]) -> dict[str, float]:
        """How much of each pickup has been received so far (the sum of its shares)."""
        shares: dict[str, float] = {}
        for chunk in _chunks(list(pickup_ids)):
            rows = self._db.execute(
                "SELECT pickup_id, SUM(share) FROM intake_pickups "
                f"WHERE pickup_id IN ({_marks(chunk)}) GROUP BY pickup_id",
                list(chunk),
            )
            shares.update({pickup_id: float(total) for pickup_id, total in rows})
        return shares

    def _intakes(self, sql: str, args: Sequence[object]) -> list[Intake]:
        heads = list(self._db.execute(sql, args))
        ids = [row[0] for row in heads]
        pickups: dict[str, list[IntakePickup]] = {i: [] for i in ids}
        lines: dict[str, list[IntakeLine]] = {i: [] for i in ids}
        for chunk in _chunks(ids):
            for intake_id, pickup_id, bin_id, region, share, declared in self._db.execute(
                "SELECT intake_id, pickup_id, bin_id, region, share, declared FROM "
                f"intake_pickups WHERE intake_id IN ({_marks(chunk)}) ORDER BY intake_id, "
                "pickup_id",
                list(chunk),
            ):
                manifest = {
                    k: ManifestEntry(count=int(c), kg=float(kg))
                    for k, (c, kg) in json.loads(declared).items()
                }
                pickups[intake_id].append(IntakePickup(pickup_id, bin_id, region, share, manifest))
            for intake_id, category, kg, count, bad in self._db.execute(
                "SELECT intake_id, category, kg, item_count, contaminated_kg FROM intake_lines "
                f"WHERE intake_id IN ({_marks(chunk)}) ORDER BY intake_id, category",
                list(chunk),
            ):
                lines[intake_id].append(IntakeLine(category, kg, count, bad))
        return [
            Intake(
                intake_id=intake_id,
                facility_id=facility_id,
                received_at=parse_ts(received_at),
                recorded_at=parse_ts(recorded_at),
                actor=actor,
                note=note,
                distance_km=distance_km,
                distance_estimated=bool(estimated),
                pickups=tuple(pickups[intake_id]),
                lines=tuple(lines[intake_id]),
            )
            for (
                intake_id,
                facility_id,
                received_at,
                recorded_at,
                actor,
                note,
                distance_km,
                estimated,
            ) in heads
        ]

    # -- dispositions -----------------------------------------------------------------------

    def add_disposition(self, record: DispositionRecord) -> int:
        """Store a decision (its ``disposition_id`` is ignored); return its new id."""
        r = record
        cursor = self._db.execute(
            "INSERT INTO dispositions (intake_id, facility_id, category, disposition, kg, "
            "item_count, grade, note, value, decided_at, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.intake_id,
                r.facility_id,
                r.category,
                r.disposition,
                r.kg,
                r.count,
                r.grade,
                r.note,
                r.value,
                _fmt(r.decided_at),
                r.actor,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def list_dispositions(
        self, *, intake_ids: Sequence[str] | None = None, facility_id: str | None = None
    ) -> list[DispositionRecord]:
        """Decisions in the order they were made, of the given lots or facility (or all)."""
        if intake_ids is not None:
            found: list[DispositionRecord] = []
            for chunk in _chunks(list(intake_ids)):
                found += self._dispositions(f"intake_id IN ({_marks(chunk)})", list(chunk))
            return sorted(found, key=lambda d: d.disposition_id)
        if facility_id is not None:
            return self._dispositions("facility_id = ?", [facility_id])
        return self._dispositions("1 = 1", [])

    def _dispositions(self, where: str, args: list[object]) -> list[DispositionRecord]:
        rows = self._db.execute(
            f"SELECT {_DISPOSITION_COLUMNS} FROM dispositions WHERE {where} "
            "ORDER BY disposition_id",
            args,
        )
        return [
            DispositionRecord(
                disposition_id=i,
                intake_id=intake_id,
                facility_id=facility_id,
                category=category,
                disposition=disposition,
                kg=kg,
                count=count,
                grade=grade,
                note=note,
                value=value,
                decided_at=parse_ts(decided_at),
                actor=actor,
            )
            for (
                i,
                intake_id,
                facility_id,
                category,
                disposition,
                kg,
                count,
                grade,
                note,
                value,
                decided_at,
                actor,
            ) in rows
        ]

    # -- inventory ----------------------------------------------------------------------------

    def add_movement(self, movement: InventoryMovement) -> int:
        """Store a stock movement (its ``movement_id`` is ignored); return its new id."""
        m = movement
        cursor = self._db.execute(
            f"INSERT INTO inventory_movements ({_MOVEMENT_COLUMNS.split(', ', 1)[1]}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.facility_id,
                m.category,
                m.kg,
                m.count,
                m.reason,
                m.intake_id,
                m.disposition_id,
                _fmt(m.at),
                m.actor,
                m.note,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def list_movements(
        self, *, facility_id: str | None = None, limit: int | None = None
    ) -> list[InventoryMovement]:
        """Stock movements, newest first."""
        sql = f"SELECT {_MOVEMENT_COLUMNS} FROM inventory_movements"
        args: list[object] = []
        if facility_id is not None:
            sql += " WHERE facility_id = ?"
            args.append(facility_id)
        sql += " ORDER BY movement_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [
            InventoryMovement(
                movement_id=i,
                facility_id=facility,
                category=category,
                kg=kg,
                count=count,
                reason=reason,
                intake_id=intake_id,
                disposition_id=disposition_id,
                at=parse_ts(at),
                actor=actor,
                note=note,
            )
            for (
                i,
                facility,
                category,
                kg,
                count,
                reason,
                intake_id,
                disposition_id,
                at,
                actor,
                note,
            ) in self._db.execute(sql, args)
        ]

    def stock(self, facility_id: str | None = None) -> list[StockLevel]:
        """What each facility holds per category (the sum of its movements)."""
        sql = (
            "SELECT facility_id, category, SUM(kg), SUM(COALESCE(item_count, 0)) "
            "FROM inventory_movements"
        )
        args: list[object] = []
        if facility_id is not None:
            sql += " WHERE facility_id = ?"
            args.append(facility_id)
        sql += " GROUP BY facility_id, category ORDER BY facility_id, category"
        return [
            StockLevel(facility_id=f, category=c, kg=round(float(kg), 6), count=int(n))
            for f, c, kg, n in self._db.execute(sql, args)
        ]
