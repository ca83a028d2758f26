"""The durable outbox: every message is stored before it is published.

Each message gets the bin's next ``seq`` in the same durable transaction that stores
it, so the counter survives power loss with the message it numbered. A new database
starts the counter at the wall clock in milliseconds (:func:`counter_origin`), never at
1 again. Rows are read in ``seq`` order for publishing and deleted only when the broker
acknowledges them; the in-memory depth and size change only after a commit.

The outbox is bounded in rows and bytes. When a new message would exceed a bound, the
oldest droppable rows (telemetry, health) go first; events are never dropped. If only
events remain, new telemetry is refused (and counted) while events are still stored,
and ``over_limit`` tells the agent to raise a storage fault.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
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
    """One stored message waiting for the broker's acknowledgement."""

    seq: int
    topic: str
    payload: bytes
    retain: bool = False
    """Publish with the MQTT retain flag (``config/reported``)."""


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What ``health`` and ``bin-agent status`` report about the outbox."""

    depth: int
    bytes: int
    oldest_age_s: float
    dropped: int
    last_seq: int
    over_limit: bool


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
        rows = db.query("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox")
        self._rows, self._bytes = int(rows[0][0]), int(rows[0][1])
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
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE outbox SET created_mono = ? - MAX(0.0, "
                "(julianday(?) - julianday(created_at)) * 86400.0)",
                (self.clock.monotonic(), format_ts(self.clock.now())),
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
            dropped_now, freed_bytes = self._make_room(tx, size)
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

    def _make_room(self, tx: sqlite3.Connection, size: int) -> tuple[int, int]:
        """Delete the oldest droppable rows until ``size`` more bytes and one row fit.

        Returns how many rows and bytes were deleted; the caller applies them to the
        counters after the transaction commits.
        """
        dropped = 0
        freed = 0
        while (
            self._rows - dropped + 1 > self.max_rows or self._bytes - freed + size > self.max_bytes
        ):
            row = tx.execute(
                "SELECT seq, size FROM outbox WHERE droppable = 1 ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                break
            tx.execute("DELETE FROM outbox WHERE seq = ?", (row[0],))
            dropped += 1
            freed += int(row[1])
        return dropped, freed

    def pending(self, after_seq: int, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` stored messages with seq above ``after_seq``, in seq order."""
        rows = self.db.query(
            "SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [
            OutboxRow(int(seq), str(topic), bytes(payload), bool(retain))
            for seq, topic, payload, retain in rows
        ]

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (without holding any lock) after every stored message."""
        self._listeners.append(listener)

    def acknowledge(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged messages; return how many were still stored."""
        batch = list(seqs)
        if not batch:
            return 0
        with self._lock:
            removed = 0
            removed_bytes = 0
            with self.db.transaction(durable=False) as tx:
                for seq in batch:
                    row = tx.execute("SELECT size FROM outbox WHERE seq = ?", (seq,)).fetchone()
                    if row is None:
                        continue
                    tx.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                    removed += 1
                    removed_bytes += int(row[0])
            self._rows -= removed
            self._bytes -= removed_bytes
            if self._over_limit and self._rows < self.max_rows and self._bytes < self.max_bytes:
                self._over_limit = False
            if self._rows == 0:
                self._drained.notify_all()
            return removed

    def wait_drained(self, timeout: float) -> bool:
        """Block until every stored message is acknowledged; False after ``timeout`` s.

        Used before a deliberate restart, so a command's result reaches the broker
        before the process exits (it would be sent after the restart otherwise).
        """
        with self._drained:
            return self._drained.wait_for(lambda: self._rows == 0, timeout=timeout)

    def oldest_created_at(self) -> datetime | None:
        """When the oldest stored message was created, by the wall clock (None: empty).

        ``bin-agent status`` ages it by the wall clock: the monotonic stamps are only
        meaningful within the process that wrote them.
        """
        rows = self.db.query("SELECT MIN(created_at) FROM outbox")
        if not rows or rows[0][0] is None:
            return None
        return parse_ts(rows[0][0])

    def stats(self) -> OutboxStats:
        """Depth, size, age of the oldest row, drops and the seq counter."""
        oldest = self.db.query("SELECT MIN(created_mono) FROM outbox")[0][0]
        with self._lock:
            age = 0.0 if oldest is None else max(self.clock.monotonic() - float(oldest), 0.0)
            return OutboxStats(
                depth=self._rows,
                bytes=self._bytes,
                oldest_age_s=age,
                dropped=self._dropped,
                last_seq=self._last_seq,
                over_limit=self._over_limit,
            )
