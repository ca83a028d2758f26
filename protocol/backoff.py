"""Reconnect delays: exponential, capped, with jitter, reset only after a stable connection.

paho's own reconnect delay doubles without jitter, so a fleet of bins (or of bridges)
whose broker restarts would retry in lockstep; this policy draws each delay from half
to all of the exponential step ("equal jitter"), from an injected random source. Both
ends use it: the bin's link (``agent``) and the bridge's (``cloud_bridge.mqtt``).
"""

from __future__ import annotations

import random


class Backoff:
    """Delays of successive reconnect attempts, one instance per connection."""

    def __init__(self, minimum_s: float, maximum_s: float, rng: random.Random) -> None:
        if not 0 < minimum_s <= maximum_s:
            raise ValueError(f"backoff needs 0 < minimum ({minimum_s}) <= maximum ({maximum_s})")
        self._minimum = minimum_s
        self._maximum = maximum_s
        self._rng = rng
        self._attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the step up to the cap."""
        step = min(self._maximum, self._minimum * 2.0 ** min(self._attempt, 64))
        self._attempt += 1
        return step * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        """Start again from the shortest delay (after a connection proved stable)."""
        self._attempt = 0
