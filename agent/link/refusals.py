"""Rows an MQTT 5 broker refused (a PUBACK with a failure reason code), and when each
goes again: after a delay that doubles with each refusal of the same row, capped.

The row stays in the outbox meanwhile; a broker that refuses for good (an ACL that
denies the topic) costs a retry every few minutes, never the message.
"""

from __future__ import annotations

from collections.abc import Callable


class RefusedRows:
    """The refused seqs of one link; the caller serialises access (the link's lock)."""

    def __init__(self, first_s: float, longest_s: float, monotonic: Callable[[], float]) -> None:
        self.first_s = first_s
        self.longest_s = longest_s
        self._monotonic = monotonic
        self._retry_at: dict[int, float] = {}  # refused seq -> when to publish it again
        self._refusals: dict[int, int] = {}  # refused seq -> refusals so far
        self.count = 0
        """Refusals since the link started."""

    def refuse(self, seq: int) -> float:
        """Record a refusal of ``seq``; return the delay before it goes again."""
        self.count += 1
        attempts = self._refusals.get(seq, 0) + 1
        self._refusals[seq] = attempts
        longest = max(self.first_s, self.longest_s)
        delay = min(self.first_s * float(2 ** min(attempts - 1, 10)), longest)
        self._retry_at[seq] = self._monotonic() + delay
        return delay

    def accepted(self, seq: int) -> None:
        """The broker took ``seq`` at last: its count of refusals starts again."""
        self._refusals.pop(seq, None)

    def due(self, room: int) -> list[int]:
        """Up to ``room`` refused seqs whose delay has passed, oldest first."""
        now = self._monotonic()
        return sorted(seq for seq, at in self._retry_at.items() if at <= now)[:room]

    def taken(self, seq: int) -> None:
        """``seq`` is being published again (its refusal count is kept)."""
        self._retry_at.pop(seq, None)

    def forget(self, seq: int) -> None:
        """``seq`` left the outbox (confirmed or dropped): nothing to retry."""
        self._retry_at.pop(seq, None)
        self._refusals.pop(seq, None)
