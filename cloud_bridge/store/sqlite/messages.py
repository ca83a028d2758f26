"""What bins sent, in SQLite: ``messages``, ``telemetry``, ``deposits``, ``state_log`` and
the ``rejections`` counters.

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore` and the ingest hot
path: rows of a batch go in few multi-row ``INSERT OR IGNORE`` statements, idempotent
on ``(bin_id, seq)``, and each timestamp is formatted once however many tables store it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from cloud_bridge.domain.records import RejectionCount
from cloud_bridge.store.protocols import StoredMessage
from cloud_bridge.store.sqlite.connection import Connection
from cloud_bridge.store.sqlite.timestamps import dt as _dt
from cloud_bridge.store.sqlite.timestamps import fmt as _fmt
from cloud_bridge.store.sqlite.timestamps import ts as _ts
from protocol import DepositEvent, State, Telemetry, format_ts, parse_ts


class MessageTablesMixin:
    """SQL of the tables the writer appends every received message to."""

    _db: Connection
    _ts_memo: dict[int, str]
    _last_received: datetime | None
    _last_received_text: str
    _multi_sql: dict[tuple[str, int], str]
    _max_variables: int

    def add_message(self, message: StoredMessage) -> bool:
        """``INSERT OR IGNORE`` on the primary key ``(bin_id, seq)``."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?)", self._message_row(message)
        )
        return cursor.rowcount == 1

    def add_messages(self, messages: Sequence[StoredMessage]) -> None:
        """Multi-row ``INSERT OR IGNORE`` statements."""
        self._insert_rows(
            "INSERT OR IGNORE INTO messages VALUES ",
            6,
            [self._message_row(message) for message in messages],
        )

    def _insert_rows(self, head: str, width: int, rows: Sequence[tuple[object, ...]]) -> None:
        """Insert ``rows`` with few multi-row statements instead of ``executemany``.

        ``executemany`` steps once per row and releases the GIL at every step; with the
        MQTT thread busy, each step then waits to get it back. A statement of many rows
        steps once. Chunks have power-of-two sizes so the prepared statements are reused.
        """
        most = 1 << (min(self._max_variables // width, 512).bit_length() - 1)
        start = 0
        while start < len(rows):
            size = most
            while size > len(rows) - start:
                size >>= 1
            sql = self._multi_sql.get((head, size))
            if sql is None:
                row = "(" + ", ".join("?" * width) + ")"
                sql = self._multi_sql[(head, size)] = head + ", ".join([row] * size)
            self._db.execute(sql, [value for r in rows[start : start + size] for value in r])
            start += size

    def _message_row(self, m: StoredMessage) -> tuple[object, ...]:
        return (
            m.bin_id,
            m.seq,
            m.kind,
            self._bin_ts(m.ts),
            self._received(m.received_at),
            m.payload,
        )

    def _bin_ts(self, value: datetime) -> str:
        """Format a message's own timestamp once, though two tables store it."""
        key = id(value)
        text = self._ts_memo.get(key)
        if text is None:
            text = self._ts_memo[key] = _fmt(value)
        return text

    def _received(self, value: datetime) -> str:
        """Format a batch's reception time once (every message of a batch shares it)."""
        if value is not self._last_received:
            self._last_received = value
            self._last_received_text = _fmt(value)
        return self._last_received_text

    def add_telemetry(self, rows: Sequence[tuple[Telemetry, datetime]]) -> None:
        """Multi-row inserts for the whole batch."""
        self._insert_rows(
            "INSERT OR IGNORE INTO telemetry VALUES ",
            11,
            [
                (
                    t.bin_id,
                    t.seq,
                    self._bin_ts(t.ts),
                    self._received(received_at),
                    t.fill_pct,
                    t.fill_mm,
                    t.weight_kg,
                    t.temp_c,
                    t.door,
                    t.deposits_since_empty,
                    int(t.clock_synced),
                )
                for t, received_at in rows
            ],
        )

    def add_deposit(self, event: DepositEvent, received_at: datetime | None = None) -> None:
        """A typed row per deposit, for manifests."""
        self._db.execute(
            "INSERT OR IGNORE INTO deposits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.bin_id,
                event.seq,
                event.deposit_id,
                format_ts(event.ts),
                event.category,
                event.confidence,
                int(event.accepted),
                event.reason,
                event.weight_g,
                event.model,
                _ts(received_at),
                int(event.clock_synced),
            ),
        )

    def log_state(self, state: State, received_at: datetime, applied: bool) -> None:
        """Births and deaths, once each per ``bd_seq``."""
        self._db.execute(
            "INSERT OR IGNORE INTO state_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                state.bin_id,
                state.bd_seq,
                int(state.online),
                state.seq,
                state.reason,
                format_ts(state.ts),
                format_ts(received_at),
                int(applied),
            ),
        )

    def count_rejections(
        self, reason: str, count: int, topic: str, detail: str, at: datetime
    ) -> None:
        """Upsert the counter row of ``reason``."""
        self._db.execute(
            "INSERT INTO rejections VALUES (?, ?, ?, ?, ?) ON CONFLICT (reason) DO UPDATE SET "
            "count = count + excluded.count, last_topic = excluded.last_topic, "
            "last_detail = excluded.last_detail, last_at = excluded.last_at",
            (reason, count, topic, detail, format_ts(at)),
        )

    def message_payload(self, bin_id: str, seq: int) -> str | None:
        """The payload stored under ``(bin_id, seq)``, if any."""
        row = self._db.execute(
            "SELECT payload FROM messages WHERE bin_id = ? AND seq = ?", (bin_id, seq)
        ).fetchone()
        return None if row is None else str(row[0])

    def message_counts(self) -> dict[str, int]:
        """``COUNT(*)`` of ``messages`` grouped by kind."""
        rows = self._db.execute("SELECT kind, COUNT(*) FROM messages GROUP BY kind ORDER BY kind")
        return {kind: int(count) for kind, count in rows}

    def rejection_counts(self) -> list[RejectionCount]:
        """One row per reason."""
        rows = self._db.execute(
            "SELECT reason, count, last_topic, last_detail, last_at FROM rejections ORDER BY reason"
        )
        return [
            RejectionCount(reason=r, count=c, last_topic=t, last_detail=d, last_at=_dt(a))
            for r, c, t, d, a in rows
        ]

    def stored_messages(self, bin_id: str) -> Iterator[StoredMessage]:
        """From the ``messages`` table."""
        rows = self._db.execute(
            "SELECT bin_id, seq, kind, ts, received_at, payload FROM messages "
            "WHERE bin_id = ? ORDER BY seq",
            (bin_id,),
        )
        for b, s, k, t, r, p in rows:
            yield StoredMessage(
                bin_id=b, seq=s, kind=k, ts=parse_ts(t), received_at=parse_ts(r), payload=p
            )
