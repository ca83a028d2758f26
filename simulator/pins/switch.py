"""A switch or optical sensor whose contact bounces when its state changes.

The model watches one boolean of the physical world (door open, beam broken). When it
changes, the pin toggles a few times at random instants within ``bounce_ms`` and ends on
the new level, as a reed or micro switch does.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from simulator.pins.model import PinModel


class BouncingSwitch(PinModel):
    """Drives ``pin`` to ``active_level`` while ``state()`` is true, bouncing on changes."""

    def __init__(
        self,
        *,
        pin: int,
        state: Callable[[], bool],
        active_level: int,
        bounce_ns: int,
        rng: random.Random,
        max_toggles: int = 6,
    ) -> None:
        self.pin = pin
        self.driven = (pin,)
        self._state = state
        self._active_level = active_level
        self._bounce_ns = bounce_ns
        self._rng = rng
        self._max_toggles = max_toggles
        self._seen = state()
        self._settled = active_level if self._seen else 1 - active_level
        self._schedule: list[tuple[int, int]] = []
        self.changes = 0

    def observe(self, now_ns: int) -> None:
        """Notice a change of the physical state and schedule its bounces."""
        seen = self._state()
        if seen == self._seen:
            return
        self._seen = seen
        self.changes += 1
        target = self._active_level if seen else 1 - self._active_level
        # An odd number of transitions, alternating, so the last one lands on the target.
        toggles = 1 if self._bounce_ns == 0 else self._rng.randrange(3, self._max_toggles + 1, 2)
        offsets = sorted(round(self._rng.uniform(0, self._bounce_ns)) for _ in range(toggles))
        offsets[0] = 0
        self._schedule = [
            (now_ns + offset, target if i % 2 == 0 else 1 - target)
            for i, offset in enumerate(offsets)
        ]

    def advance(self, now_ns: int) -> None:
        """Fold the bounces that are over into the settled level."""
        while self._schedule and self._schedule[0][0] <= now_ns:
            self._settled = self._schedule.pop(0)[1]

    def level(self, pin: int, now_ns: int) -> int | None:
        """The contact level now."""
        level = self._settled
        for t, scheduled in self._schedule:
            if t > now_ns:
                break
            level = scheduled
        return level

    def next_event_ns(self, now_ns: int) -> int | None:
        """The next bounce."""
        for t, _ in self._schedule:
            if t > now_ns:
                return t
        return None
