"""The durable outbox: every message is stored before it is published.

Each message gets the bin's next ``seq`` in the same durable transaction that stores
it, so the counter survives power loss with the message it numbered. A new database
starts the counter at the wall clock in milliseconds (:func:`counter_origin`), never at
1 again. Rows are read in ``seq`` order for publishing. A row is *pending* until the
broker acknowledges it, then *sent* (unconfirmed) until the bridge confirms it stored
it (:meth:`Outbox.confirm`), and only then deleted; with ``broker.confirm = "broker"``
the broker's acknowledgement deletes it at once (:meth:`Outbox.acknowledge`). The
in-memory depth and size change only after a commit.

The outbox is bounded in rows and bytes, sent rows included. When a new message would
exceed a bound, the oldest droppable rows (telemetry, health) go first, sent or not;
events are never dropped. If only
events remain, new telemetry is refused (and counted) while events are still stored,
and ``over_limit`` tells the agent to raise a storage fault.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.clock import Clock
from agent.storage.localdb import SET_META, LocalDb
from protocol.messages import MAX_SEQ, format_ts, parse_ts

log = logging.getLogger(__name__)


def counter_origin(clock: Clock) -> int:
    """Where a fresh database starts the bin's counters (``seq``, ``bd_seq``).

    The bridge stores idempotently on ``(bin_id, seq)`` and ignores a birth whose
    ``bd_seq`` is not newer than the last one, so a bin whose database is new (first
    start, or an SD card replaced or wiped) must not count from 1 again: its messages
    would be dropped as duplicates. A fresh database starts at the wall clock in
    milliseconds since the Unix epoch, which is above every value the bin used before
    as long as it averaged fewer than 1000 messages (or connections) a second since
    its previous database was created. See docs/protocol.md.
    """
    return max(int(clock.now().timestamp() * 1000), 0)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One stored message waiting for the broker's acknowledgement or the bridge's."""

    seq: int
    topic: str
    payload: bytes
    retain: bool = False
    """Publish with the MQTT retain flag (``config/reported``); false for a row older
    than one the bridge already confirmed on its topic, so sending it again never
    replaces the newer retained message."""


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What ``health`` and ``bin-agent status`` report about the outbox."""

    depth: int
    bytes: int
    oldest_age_s: float
    dropped: int
    last_seq: int
    over_limit: bool
    unconfirmed: int = 0
    """Rows the broker acknowledged that the bridge has not confirmed (part of depth)."""
    unconfirmed_oldest_s: float = 0.0
    """How long ago the broker first acknowledged the oldest of them (wall clock)."""


class Outbox:
    """Durable, bounded, ``seq``-ordered queue of messages to publish."""

    def __init__(self, db: LocalDb, clock: Clock, *, max_rows: int, max_bytes: int) -> None:
        self.db = db
        self.clock = clock
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)
        self._listeners: list[Callable[[], None]] = []
        rows = db.query("SELECT COUNT(*), COALESCE(SUM(size), 0), COUNT(sent_mono) FROM outbox")
        self._rows, self._bytes = int(rows[0][0]), int(rows[0][1])
        self._unconfirmed = int(rows[0][2])
        # Per retained topic, the newest seq the bridge confirmed (see OutboxRow.retain).
        self._retained: dict[str, int] = dict(db.get("retained_confirmed", {}) or {})
        stored_seq = db.get("last_seq")
        if stored_seq is None and not self._rows and not db.readonly:
            stored_seq = self._start_counter(db, clock)
        self._last_seq = int(stored_seq or 0)
        self._dropped = int(db.get("dropped_total", 0))
        self._over_limit = False
        self._rebase_ages()
        top = db.query("SELECT MAX(seq) FROM outbox")[0][0]
        if top is not None and int(top) > self._last_seq:
            # Cannot happen with durable commits; guard against a hand-edited database.
            log.warning("outbox holds seq %s above the stored counter %s", top, self._last_seq)
            self._last_seq = int(top)

    @staticmethod
    def _start_counter(db: LocalDb, clock: Clock) -> int:
        """Seed ``last_seq`` of a fresh database from the clock (see counter_origin)."""
        origin = counter_origin(clock)
        if not clock.clock_synced():
            log.warning(
                "new agent database %s while the clock is not synchronised: seq starts at "
                "%d from the unsynchronised clock; the bridge may drop events as duplicates "
                "if this bin had a database before",
                db.path,
                origin + 1,
            )
        db.put("last_seq", origin)
        return origin

    def _rebase_ages(self) -> None:
        """Re-express the age of rows left by an earlier process on this process's clock.

        Monotonic clocks restart with the process (and the machine), so a stored
        ``created_mono`` is only meaningful within one run; the wall-clock stamp is the
        best estimate of how long older rows have waited.
        """
        if self.db.readonly or not self._rows:
            return
        now_mono, now_at = self.clock.monotonic(), format_ts(self.clock.now())
        with self.db.transaction() as tx:
            for column, stamp in (("created_mono", "created_at"), ("sent_mono", "sent_at")):
                tx.execute(
                    f"UPDATE outbox SET {column} = ? - MAX(0.0, "
                    f"(julianday(?) - julianday({stamp})) * 86400.0) WHERE {stamp} IS NOT NULL",
                    (now_mono, now_at),
                )

    @property
    def last_seq(self) -> int:
        """The highest ``seq`` ever assigned (the counter's origin before the first message).

        Read without the lock, which an insert holds across its fsync: paho's callbacks
        read it to compose the state message and must not wait for the disk (reading
        an int attribute is atomic).
        """
        return self._last_seq

    def append(
        self,
        topic: str,
        build: Callable[[int], bytes],
        *,
        droppable: bool,
        meta: dict[str, Any] | None = None,
        retain: bool = False,
    ) -> int | None:
        """Number, build and durably store one message; return its seq.

        ``build`` receives the seq and returns the encoded payload. A droppable message
        that cannot fit even after dropping older droppable rows is refused (returns
        None and counts as dropped); an event is always stored. ``meta`` values are
        written in the same transaction, so state and the event that reports its change
        survive or vanish together. ``retain`` rows are published retained.
        """
        with self._lock:
            seq = self._store(topic, build, droppable, meta or {}, retain)
        if seq is not None:
            for listener in self._listeners:
                listener()
        return seq

    def _store(
        self,
        topic: str,
        build: Callable[[int], bytes],
        droppable: bool,
        meta: dict[str, Any],
        retain: bool = False,
    ) -> int | None:
        """Allocate the seq, make room and insert, in one durable transaction."""
        seq = self._last_seq + 1
        if seq > MAX_SEQ:
            raise OverflowError("the bin's seq counter is exhausted")
        payload = build(seq)
        size = len(payload)
        now_mono = self.clock.monotonic()
        created_at = format_ts(self.clock.now())
        # The in-memory figures change only once the transaction has committed: a
        # failed insert or commit rolls the rows back and must leave them true.
        with self.db.transaction() as tx:
            dropped_now, freed_bytes, dropped_sent = self._make_room(tx, size)
            rows = self._rows - dropped_now
            stored_bytes = self._bytes - freed_bytes
            fits = rows + 1 <= self.max_rows and stored_bytes + size <= self.max_bytes
            if droppable and not fits:
                dropped_total = self._dropped + dropped_now + 1
                tx.execute(SET_META, ("dropped_total", str(dropped_total)))
                inserted = False
            else:
                tx.execute(
                    "INSERT INTO outbox (seq, topic, payload, droppable, size, created_mono,"
                    " created_at, retain) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, topic, payload, int(droppable), size, now_mono, created_at, int(retain)),
                )
                tx.execute(SET_META, ("last_seq", str(seq)))
                for key, value in meta.items():
                    self.db.put(key, value, conn=tx)
                dropped_total = self._dropped + dropped_now
                if dropped_now:
                    tx.execute(SET_META, ("dropped_total", str(dropped_total)))
                inserted = True
        self._rows, self._bytes, self._dropped = rows, stored_bytes, dropped_total
        self._unconfirmed -= dropped_sent
        if dropped_now:
            log.warning("outbox bound reached: dropped %d oldest telemetry rows", dropped_now)
        if not inserted:
            self._over_limit = True
            log.warning("outbox full of events: telemetry for %s dropped", topic)
            return None
        self._last_seq = seq
        self._rows += 1
        self._bytes += size
        self._over_limit = not fits
        return seq

    def _make_room(self, tx: sqlite3.Connection, size: int) -> tuple[int, int, int]:
        """Delete the oldest droppable rows until ``size`` more bytes and one row fit.

        Returns how many rows and bytes were deleted, and how many of those rows were
        sent (unconfirmed); the caller applies them to the counters after the
        transaction commits.
        """
        dropped = 0
        freed = 0
        sent = 0
        while (
            self._rows - dropped + 1 > self.max_rows or self._bytes - freed + size > self.max_bytes
        ):
            row = tx.execute(
                "SELECT seq, size, sent_mono IS NOT NULL FROM outbox WHERE droppable = 1 "
                "ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                break
            tx.execute("DELETE FROM outbox WHERE seq = ?", (row[0],))
            dropped += 1
            freed += int(row[1])
            sent += int(row[2])
        return dropped, freed, sent

    def pending(self, after_seq: int, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` stored messages with seq above ``after_seq``, in seq order."""
        rows = self.db.query(
            "SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [self._row(*row) for row in rows]

    def sent(self, after_seq: int, up_to: int, sent_before: float, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` sent (unconfirmed) rows with seq in ``(after_seq, up_to]`` that
        the broker first acknowledged at or before ``sent_before`` (monotonic), in seq
        order: what the link publishes again."""
        rows = self.db.query(
            "SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? AND seq <= ? "
            "AND sent_mono IS NOT NULL AND sent_mono <= ? ORDER BY seq LIMIT ?",
            (after_seq, up_to, sent_before, limit),
        )
        return [self._row(*row) for row in rows]

    def _row(self, seq: Any, topic: Any, payload: Any, retain: Any) -> OutboxRow:
        seq, topic = int(seq), str(topic)
        keep_retain = bool(retain) and seq > self._retained.get(topic, 0)
        return OutboxRow(seq, topic, bytes(payload), keep_retain)

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (without holding any lock) after every stored message."""
        self._listeners.append(listener)

    def acknowledge(self, seqs: Iterable[int]) -> int:
        """Delete messages the broker acknowledged (``broker.confirm = "broker"``); return
        how many were still stored."""
        batch = [(seq, seq) for seq in seqs]
        return self._delete(batch) if batch else 0

    def confirm(self, ranges: Sequence[tuple[int, int]]) -> int:
        """Delete the messages the bridge says it stored (``ack`` ranges, both ends
        included), sent or not yet marked so; return how many were still stored."""
        return self._delete(ranges) if ranges else 0

    def _delete(self, ranges: Sequence[tuple[int, int]]) -> int:
        with self._lock:
            removed = removed_bytes = removed_sent = 0
            retained = dict(self._retained)
            with self.db.transaction(durable=False) as tx:
                for first, last in ranges:
                    where = "FROM outbox WHERE seq BETWEEN ? AND ?"
                    found = tx.execute(
                        f"SELECT seq, topic, size, sent_mono IS NOT NULL, retain {where}",
                        (first, last),
                    ).fetchall()
                    if not found:
                        continue
                    tx.execute(f"DELETE {where}", (first, last))
                    for seq, topic, size, sent, retain in found:
                        removed += 1
                        removed_bytes += int(size)
                        removed_sent += int(sent)
                        if retain and int(seq) > retained.get(topic, 0):
                            retained[topic] = int(seq)
                if retained != self._retained:
                    self.db.put("retained_confirmed", retained, conn=tx)
            self._retained = retained
            self._rows -= removed
            self._bytes -= removed_bytes
            self._unconfirmed -= removed_sent
            if self._over_limit and self._rows < self.max_rows and self._bytes < self.max_bytes:
                self._over_limit = False
            self._drained.notify_all()
            return removed

    def mark_sent(self, seqs: Iterable[int]) -> int:
        """Note that the broker acknowledged these rows (``broker.confirm = "bridge"``):
        they stay, unconfirmed, until the bridge confirms them. ``sent_at`` keeps the
        first acknowledgement's wall-clock time (what ``status`` and ``health`` age);
        ``sent_mono`` the latest's (when a row is due to go again). Returns how many
        rows became sent."""
        batch = list(seqs)
        if not batch:
            return 0
        with self._lock:
            marked = 0
            now_mono, now_at = self.clock.monotonic(), format_ts(self.clock.now())
            with self.db.transaction(durable=False) as tx:
                for seq in batch:
                    row = tx.execute(
                        "SELECT sent_mono IS NULL FROM outbox WHERE seq = ?", (seq,)
                    ).fetchone()
                    if row is None:
                        continue
                    tx.execute(
                        "UPDATE outbox SET sent_mono = ?, sent_at = COALESCE(sent_at, ?) "
                        "WHERE seq = ?",
                        (now_mono, now_at, seq),
                    )
                    marked += int(row[0])
            self._unconfirmed += marked
            self._drained.notify_all()
            return marked

    @property
    def unconfirmed(self) -> int:
        """How many stored rows are sent and wait for the bridge (read without the lock)."""
        return self._unconfirmed

    def oldest_sent_mono(self) -> float | None:
        """The monotonic time of the least recent broker acknowledgement of a sent row."""
        (oldest,) = self.db.query("SELECT MIN(sent_mono) FROM outbox WHERE sent_mono IS NOT NULL")[
            0
        ]
        return None if oldest is None else float(oldest)

    def wait_drained(self, timeout: float) -> bool:
        """Block until the broker acknowledged every stored message; False after ``timeout``.

        Used before a deliberate restart, so a command's result reaches the broker
        before the process exits (it would be sent after the restart otherwise). Rows
        the bridge has not confirmed yet are sent again after the restart anyway.
        """
        with self._drained:
            return self._drained.wait_for(lambda: self._rows == self._unconfirmed, timeout)

    def oldest_created_at(self) -> datetime | None:
        """When the oldest stored message was created, by the wall clock (None: empty).

        ``bin-agent status`` ages it by the wall clock: the monotonic stamps are only
        meaningful within the process that wrote them.
        """
        return self._min_time("created_at")

    def oldest_sent_at(self) -> datetime | None:
        """When the broker acknowledged the oldest row the bridge has not confirmed, by
        the wall clock (None: there is none)."""
        return self._min_time("sent_at")

    def _min_time(self, column: str) -> datetime | None:
        rows = self.db.query(f"SELECT MIN({column}) FROM outbox")
        if not rows or rows[0][0] is None:
            return None
        return parse_ts(rows[0][0])

    def stats(self) -> OutboxStats:
        """Depth, size, age of the oldest row, drops, the seq counter and the rows the
        bridge has not confirmed yet."""
        (oldest,) = self.db.query("SELECT MIN(created_mono) FROM outbox")[0]
        oldest_sent = self.oldest_sent_at()
        now = self.clock.monotonic()
        sent_age = (
            0.0
            if oldest_sent is None
            else max((self.clock.now() - oldest_sent).total_seconds(), 0.0)
        )
        with self._lock:
            return OutboxStats(
                depth=self._rows,
                bytes=self._bytes,
                oldest_age_s=0.0 if oldest is None else max(now - float(oldest), 0.0),
                dropped=self._dropped,
                last_seq=self._last_seq,
                over_limit=self._over_limit,
                unconfirmed=self._unconfirmed,
                unconfirmed_oldest_s=sent_age,
            )
