"""When an outbox row may go, and when one the bridge has not confirmed is sent again.

A broker's PUBACK only says the broker holds the message, in memory until its next
save: a broker killed before that loses what it acknowledged. With
``broker.confirm = "bridge"`` (the default) a PUBACK marks the row *sent*, and the row
is deleted when the bridge's ``ack`` (``{prefix}/{bin_id}/ack``, docs/protocol.md)
names its ``seq``. Sent rows are published again, in ``seq`` order:

- after every reconnect, all of them (the broker may have restarted without them);
- while connected, those the broker last took more than ``broker.confirm_timeout_s``
  ago and that the bridge has overtaken: it acknowledged a higher ``seq`` of this bin,
  and it receives a bin's messages in order, so these were lost on the way (a broker
  queue that overflowed, a broker that dropped them) or their ack was (a bridge crash
  between its commit and the ack). While no ack comes, or only for older messages (the
  bridge is down, or catching up on a backlog), nothing is sent again but on a
  reconnect, so copies do not pile up in the broker's queue for it. The bridge
  deduplicates on ``(bin_id, seq)`` and acknowledges a copy like the original.

With ``broker.confirm = "broker"`` a PUBACK deletes the row, as before the ack existed:
for a consumer that never sends one. In "bridge" mode a bin whose rows stay
unconfirmed says so in its log, with that hint, and in ``health`` and ``bin-agent
status``; its events stay in the outbox (only telemetry is ever dropped, counted).

Writing a row's sent state waits ``MARK_AFTER_S``: with the bridge online its ack comes
within milliseconds of the PUBACK, and the row is then deleted in one write, as the
PUBACK alone did before. Paho's thread only queues what arrives
(:meth:`Confirmations.receive`, :meth:`Confirmations.reconnected`); the publisher thread
writes the outbox (:meth:`Confirmations.settle`) and asks what to send again
(:meth:`Confirmations.resend`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from agent.clock import Clock
from agent.storage.outbox import Outbox, OutboxRow
from protocol.codec import decode
from protocol.errors import ProtocolError
from protocol.messages import Ack

log = logging.getLogger(__name__)

WARN_EVERY_S = 3600.0
"""How often, at most, the log repeats that rows stay unconfirmed."""
MARK_AFTER_S = 2.0
"""Real seconds a PUBACKed row waits in memory for its ack before its sent state is
written (one write instead of two for a row the bridge confirms at once)."""


@dataclass(slots=True)
class _Round:
    """One pass publishing sent rows again, in seq order, from ``cursor`` up to ``until``."""

    reason: str
    until: int
    sent_before: float
    cursor: int = 0
    count: int = 0


class Confirmations:
    """The bin's side of the end-to-end acknowledgement, for one link."""

    def __init__(
        self,
        outbox: Outbox,
        clock: Clock,
        *,
        bin_id: str,
        end_to_end: bool,
        timeout_s: float,
        ack_topic: str,
    ) -> None:
        self.outbox = outbox
        self.clock = clock
        self.bin_id = bin_id
        self.end_to_end = end_to_end
        """True with ``broker.confirm = "bridge"``: a PUBACK only marks the row sent."""
        self.timeout_s = timeout_s
        self.ack_topic = ack_topic
        self._lock = threading.Lock()
        self._ranges: list[tuple[int, int]] = []
        self._marks: list[tuple[int, float]] = []  # PUBACKed seq, real time: to mark sent
        self._last_ack: float | None = None
        self._acked_top: int | None = None  # the highest seq the bridge acknowledged
        self._reconnect: int | None = None  # a reconnect's handed seq, round to start
        self._round: _Round | None = None
        self._last_round = -math.inf
        self._next_check = -math.inf
        self._warned_at = -math.inf
        self.acks_received = 0
        """How many ``ack`` messages arrived (for tests and diagnostics)."""
        self.resent = 0
        """How many rows were handed out to be published again."""

    # -- paho's thread: memory only ------------------------------------------------------

    def receive(self, payload: bytes) -> None:
        """Queue the ranges of an ``ack`` (paho's thread: never touches the disk)."""
        try:
            ack = decode(Ack, payload, topic=self.ack_topic)
        except ProtocolError as err:
            log.warning("%s ignores an ack it cannot read: %s", self.bin_id, err)
            return
        with self._lock:
            self._ranges.extend(ack.ranges)
            self._last_ack = self.clock.monotonic()
            self.acks_received += 1

    def reconnected(self, handed_seq: int) -> None:
        """A connection is up again: everything sent up to ``handed_seq`` goes again.

        The broker may have lost what it acknowledged (a crash before its save); rows
        handed to paho but not acknowledged yet are re-sent by paho itself. The round
        starts on the publisher thread (:meth:`resend`).
        """
        if self.end_to_end and handed_seq > 0:
            with self._lock:
                self._reconnect = handed_seq

    # -- the publisher thread ------------------------------------------------------------

    def waiting(self) -> bool:
        """Whether acks are queued for :meth:`settle`."""
        with self._lock:
            return bool(self._ranges)

    def settle(self, acked: list[int], *, final: bool = False) -> None:
        """Apply the broker's acknowledgements (``acked`` seqs) and the bridge's ranges.

        In "bridge" mode a PUBACKed row is marked sent after ``MARK_AFTER_S`` unless an
        ack deleted it meanwhile (``final``: mark every one now, the link stops).
        """
        with self._lock:
            ranges, self._ranges = self._ranges, []
        if ranges:
            # A bridge that acknowledges is always right to: also in "broker" mode (a
            # persistent session may still hold the ack subscription of an earlier run).
            self.outbox.confirm(ranges)
        if not self.end_to_end:
            self.outbox.acknowledge(acked)
            return
        now = time.monotonic()
        marks = self._marks + [(seq, now) for seq in acked]
        if ranges:
            top = max(last for _, last in ranges)
            with self._lock:
                self._acked_top = max(self._acked_top or 0, top)
            marks = [m for m in marks if not any(a <= m[0] <= b for a, b in ranges)]
        due = marks if final else [m for m in marks if now - m[1] >= MARK_AFTER_S]
        self._marks = marks[len(due) :] if not final else []
        if due:
            self.outbox.mark_sent(seq for seq, _ in due)

    def resend(self, room: int, inflight: set[int], handed_seq: int) -> list[OutboxRow]:
        """Up to ``room`` sent rows to publish again now, in seq order (none: no round).

        Rows still in flight (paho re-sends those itself) are skipped. A round that
        comes to its end is over; :meth:`resending` says whether one is going on, during
        which new rows wait, so the bridge still gets them in seq order.
        """
        self._maybe_start_round(handed_seq)
        with self._lock:
            current = self._round
        if current is None or room <= 0:
            return []
        limit = room + len(inflight)
        found = self.outbox.sent(current.cursor, current.until, current.sent_before, limit)
        candidates = [row for row in found if row.seq not in inflight]
        rows = candidates[:room]
        with self._lock:
            if self._round is not current:  # a reconnect started another meanwhile
                return []
            if rows:
                current.cursor = rows[-1].seq
            elif found:  # only rows in flight: go past them
                current.cursor = found[-1].seq
            current.count += len(rows)
            if len(found) < limit and len(rows) == len(candidates):
                self._round = None
                if current.count:
                    log.info(
                        "%s published %d unconfirmed messages again (%s)",
                        self.bin_id,
                        current.count,
                        current.reason,
                    )
        self.resent += len(rows)
        return rows

    def resending(self) -> bool:
        """Whether a round of sending unconfirmed rows again is going on."""
        with self._lock:
            return self._round is not None

    def _maybe_start_round(self, handed_seq: int) -> None:
        """Start the round a reconnect asked for, or a timeout round when one is due."""
        if not self.end_to_end:
            return
        with self._lock:
            reconnect, self._reconnect = self._reconnect, None
        now = self.clock.monotonic()
        if reconnect is not None:
            self.settle([], final=True)  # rows PUBACKed before the drop are sent ones
            with self._lock:
                self._round = _Round("reconnect", reconnect, math.inf)
                self._last_round = now
            return
        with self._lock:
            if self._round is not None or now < self._next_check:
                return
            self._next_check = now + min(self.timeout_s / 4.0, 30.0)
            last_ack, top, since_round = self._last_ack, self._acked_top, now - self._last_round
        if self.outbox.unconfirmed == 0:
            return
        oldest = self.outbox.oldest_sent_mono()
        if oldest is None or now - oldest < self.timeout_s:
            return
        if last_ack is None or top is None or now - last_ack > self.timeout_s:
            self._warn(now - oldest, now, heard=last_ack)
        if top is None or since_round < self.timeout_s:
            return
        with self._lock:
            if self._round is None:
                until = min(handed_seq, top - 1)
                self._round = _Round("unconfirmed", until, now - self.timeout_s)
                self._last_round = now

    def _warn(self, age_s: float, now: float, *, heard: float | None) -> None:
        if now - self._warned_at < WARN_EVERY_S:
            return
        self._warned_at = now
        count = self.outbox.unconfirmed
        if heard is None:
            log.warning(
                "%s: %d messages the broker took are not confirmed (the oldest %.0f s ago), "
                "and no ack came on %s since the start: is the bridge down or older than "
                "the ack, or does the broker's ACL not let this bin read it? They stay in "
                'the outbox (broker.confirm = "broker" deletes them at the broker\'s '
                "PUBACK instead)",
                self.bin_id,
                count,
                age_s,
                self.ack_topic,
            )
        else:
            log.warning(
                "%s: %d messages the broker took are not confirmed (the oldest %.0f s ago), "
                "and no ack came for %.0f s: is the bridge down? They stay in the outbox, "
                "and go again after a reconnect or once it acknowledges newer ones",
                self.bin_id,
                count,
                age_s,
                now - heard,
            )
