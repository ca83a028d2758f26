"""The webhook delivery queue in SQLite (see :class:`cloud_bridge.store.protocols.DeliveryStore`).

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore`: the writer queues rows in
the transaction that decided the message; the delivery worker, on its own connection
to the same file, picks the oldest pending row of each endpoint and records attempts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloud_bridge.domain.records import Delivery
from cloud_bridge.store.sqlite.connection import Connection
from cloud_bridge.store.sqlite.timestamps import dt, fmt
from protocol import parse_ts

_COLUMNS = (
    "id, endpoint, kind, key, body, created_at, attempts, next_attempt_at, state, last_error, "
    "last_status, delivered_at"
)
STATES = ("pending", "delivered", "dead")


def _delivery(row: Any) -> Delivery:
    (ident, endpoint, kind, key, body, created, attempts, due, state, error, status, done) = row
    return Delivery(
        id=ident,
        endpoint=endpoint,
        kind=kind,
        key=key,
        body=bytes(body),
        created_at=parse_ts(created),
        attempts=attempts,
        next_attempt_at=parse_ts(due),
        state=state,
        last_error=error,
        last_status=status,
        delivered_at=dt(done),
    )


class DeliveryQueueMixin:
    """SQL of the ``deliveries`` table."""

    _db: Connection

    def queue_delivery(self, endpoint: str, kind: str, key: str, body: bytes, at: datetime) -> int:
        """Insert a pending row, due at once."""
        cursor = self._db.execute(
            "INSERT INTO deliveries (endpoint, kind, key, body, created_at, attempts, "
            "next_attempt_at, state) VALUES (?, ?, ?, ?, ?, 0, ?, 'pending')",
            (endpoint, kind, key, body, fmt(at), fmt(at)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        """The head of each endpoint's pending queue, if due."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE id IN ("
            "SELECT MIN(id) FROM deliveries WHERE state = 'pending' GROUP BY endpoint"
            ") AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (fmt(now), int(limit)),
        )
        return [_delivery(row) for row in rows]

    def record_attempt(
        self,
        delivery_id: int,
        *,
        at: datetime,
        state: str,
        status: int | None,
        error: str | None,
        next_attempt_at: datetime,
    ) -> None:
        """One more attempt, and its outcome."""
        if state not in STATES:
            raise ValueError(f"delivery state {state!r} is not one of {', '.join(STATES)}")
        self._db.execute(
            "UPDATE deliveries SET attempts = attempts + 1, state = ?, last_status = ?, "
            "last_error = ?, next_attempt_at = ?, delivered_at = ? WHERE id = ?",
            (
                state,
                status,
                None if error is None else error[:500],
                fmt(next_attempt_at),
                fmt(at) if state == "delivered" else None,
                delivery_id,
            ),
        )

    def list_deliveries(
        self, *, state: str | None = None, limit: int | None = None
    ) -> list[Delivery]:
        """Newest first."""
        sql = f"SELECT {_COLUMNS} FROM deliveries"
        args: list[object] = []
        if state is not None:
            sql += " WHERE state = ?"
            args.append(state)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [_delivery(row) for row in self._db.execute(sql, args)]

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        """One delivery by its id."""
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return None if row is None else _delivery(row)

    def retry_delivery(self, delivery_id: int, at: datetime) -> bool:
        """Dead back to pending, attempts from zero, due at once."""
        cursor = self._db.execute(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ? "
            "WHERE id = ? AND state = 'dead'",
            (fmt(at), delivery_id),
        )
        return cursor.rowcount == 1

    def delivery_counts(self) -> dict[str, int]:
        """Rows per state."""
        rows = self._db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
        return {state: int(count) for state, count in rows}
