"""The bridge's notion of "now", injected so the simulator can run it on virtual time.

Everything the bridge dates itself (``last_seen``, a pickup's ``due_by`` and ``ts``)
comes from a :data:`Clock`; the timestamps inside bin messages are the bins' own and
are stored as they came. :class:`BinTimeClock` is a clock that follows them, for a
bridge run beside a simulated fleet that is faster than life.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]
"""A callable returning the current time as an aware UTC datetime."""


def system_clock() -> datetime:
    """The machine's wall clock, UTC."""
    return datetime.now(UTC)


class BinTimeClock:
    """The bridge's "now" taken from the bins' own synced timestamps (``bin-bridge run
    --clock-from-bins``).

    A simulated fleet (``bin-sim fleet --speed 600``) stamps its messages with its own
    virtual clock, which runs ahead of the machine's. A bridge on the wall clock then
    sees readings from days ahead: it never forecasts and dates pickups in the wrong
    hours. With this clock the bridge's now is the newest timestamp received from a bin
    whose clock is synced, so the two agree at any speed (and at speed 1 it is the wall
    clock give or take the network). It never goes back; it starts at the wall clock,
    takes the first bin's time whatever it is, and after that moves at most ``max_step``
    per message, so one bin with a wild clock cannot throw it years ahead. Thread-safe:
    the broker's thread moves it, the writer reads it.
    """

    def __init__(
        self, start: datetime | None = None, *, max_step: timedelta = timedelta(days=1)
    ) -> None:
        self._now = start if start is not None else system_clock()
        self._max_step = max_step
        self._seen = False
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def observe(self, ts: datetime) -> None:
        """A bin with a synced clock says it is ``ts``."""
        with self._lock:
            if ts <= self._now:
                return
            if self._seen and ts - self._now > self._max_step:
                return
            self._now = ts
            self._seen = True

    def observe_payload(self, payload: bytes) -> None:
        """Take the time of a received bin message, if it carries a synced ``ts``."""
        try:
            body = json.loads(payload)
            if not isinstance(body, dict) or body.get("clock_synced") is not True:
                return
            ts = datetime.fromisoformat(str(body["ts"]).replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            return  # the processor rejects it with its reason; the clock just ignores it
        if ts.tzinfo is not None:
            self.observe(ts.astimezone(UTC))
