"""When an outbox row may go, and when one the bridge has not confirmed is sent again.

A broker's PUBACK only says the broker holds the message, in memory until its next
save: a broker killed before that loses what it acknowledged. With
``broker.confirm = "bridge"`` (the default) a PUBACK marks the row *sent*, and the row
is deleted when the bridge's ``ack`` (``{prefix}/{bin_id}/ack``, docs/protocol.md)
names its ``seq``. Sent rows are published again, in ``seq`` order:

- after every reconnect, all of them (the broker may have restarted without them);
- while connected, those the broker took more than ``broker.confirm_timeout_s`` ago
  and before the bridge's latest ack, at most once per that period: the bridge has
  acknowledged something since, so it is alive and they were lost on the way (a broker
  queue that overflowed, an ack lost in a bridge crash). While no ack comes (the bridge
  is down, or does not send acks) nothing is sent again but on a reconnect, so a long
  bridge outage does not fill the broker's queue for it with copies. The bridge deduplicates on
  ``(bin_id, seq)`` and acknowledges a copy like the original.

With ``broker.confirm = "broker"`` a PUBACK deletes the row, as before the ack existed:
for a consumer that never sends one. In "bridge" mode a bin whose rows stay
unconfirmed says so in its log, with that hint, and in ``health`` and ``bin-agent
status``; its events stay in the outbox (only telemetry is ever dropped, counted).

Paho's thread only queues what arrives (:meth:`Confirmations.receive`,
:meth:`Confirmations.reconnected`); the publisher thread writes the outbox
(:meth:`Confirmations.settle`) and asks what to send again (:meth:`Confirmations.resend`).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass

from agent.clock import Clock
from agent.storage.outbox import Outbox, OutboxRow
from protocol.codec import decode
from protocol.errors import ProtocolError
from protocol.messages import Ack

log = logging.getLogger(__name__)

WARN_EVERY_S = 3600.0
"""How often, at most, the log repeats that rows stay unconfirmed."""


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
        self._last_ack: float | None = None
        self._round: _Round | None = None
        self._last_round = -math.inf
        self._next_check = 0.0
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
        handed to paho but not acknowledged yet are re-sent by paho itself.
        """
        if not self.end_to_end or handed_seq <= 0:
            return
        with self._lock:
            self._round = _Round("reconnect", handed_seq, math.inf)
            self._last_round = self.clock.monotonic()

    # -- the publisher thread ------------------------------------------------------------

    def waiting(self) -> bool:
        """Whether acks are queued for :meth:`settle`."""
        with self._lock:
            return bool(self._ranges)

    def settle(self, acked: list[int]) -> None:
        """Apply the broker's acknowledgements (``acked`` seqs) and the bridge's ranges."""
        with self._lock:
            ranges, self._ranges = self._ranges, []
        if acked:
            if self.end_to_end:
                self.outbox.mark_sent(acked)
            else:
                self.outbox.acknowledge(acked)
        if ranges:
            # A bridge that acknowledges is always right to: also in "broker" mode (a
            # persistent session may still hold the ack subscription of an earlier run).
            self.outbox.confirm(ranges)

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
        """Start a timeout round when one is due (checked every few seconds)."""
        if not self.end_to_end:
            return
        now = self.clock.monotonic()
        with self._lock:
            if self._round is not None or now < self._next_check:
                return
            self._next_check = now + min(self.timeout_s / 4.0, 30.0)
            last_ack = self._last_ack
            since_round = now - self._last_round
        stats = self.outbox.stats()
        if stats.unconfirmed == 0 or stats.unconfirmed_oldest_s < self.timeout_s:
            return
        if last_ack is None or last_ack < now - stats.unconfirmed_oldest_s:
            # No ack since the broker took the oldest: the bridge may just be down.
            self._warn(stats.unconfirmed, stats.unconfirmed_oldest_s, now, heard=last_ack)
            return
        if since_round < self.timeout_s:
            return
        with self._lock:
            if self._round is None:
                sent_before = min(now - self.timeout_s, last_ack)
                self._round = _Round("unconfirmed", handed_seq, sent_before)
                self._last_round = now

    def _warn(self, count: int, age_s: float, now: float, *, heard: float | None) -> None:
        if now - self._warned_at < WARN_EVERY_S:
            return
        self._warned_at = now
        if heard is None:
            log.warning(
                "%s: %d messages the broker took %.0f s ago are not confirmed, and no ack "
                "came on %s since the start: is the bridge down or older than the ack, or "
                "does the broker's ACL not let this bin read it? They stay in the outbox "
                '(broker.confirm = "broker" deletes them at the broker\'s PUBACK instead)',
                self.bin_id,
                count,
                age_s,
                self.ack_topic,
            )
        else:
            log.warning(
                "%s: %d messages the broker took %.0f s ago are not confirmed, and no ack "
                "came for %.0f s: is the bridge down? They stay in the outbox, and go again "
                "after a reconnect or once it acknowledges others",
                self.bin_id,
                count,
                age_s,
                now - heard,
            )
