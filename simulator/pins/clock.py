"""The pin-level simulator's virtual time as the agent's clock: bin time.

Run the agent runtime on this clock and everything the drivers wait for (HX711
conversions, ultrasonic pings, camera exposure) advances the runtime's time too, so
a measured duration such as a deposit's ``decision_ms`` is what the bin would spend.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from simulator.pins.gpio import SimTimingClock


class PinClock:
    """:class:`agent.clock.Clock` on a :class:`SimTimingClock` (no base clock)."""

    def __init__(self, timing: SimTimingClock, start: datetime | None = None) -> None:
        self.timing = timing
        self._epoch = start or datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
        self._origin = timing.monotonic()

    def monotonic(self) -> float:
        """Virtual seconds since this clock was made."""
        return self.timing.monotonic() - self._origin

    def now(self) -> datetime:
        """The start time plus the virtual seconds elapsed."""
        return self._epoch + timedelta(seconds=self.monotonic())

    def sleep(self, seconds: float) -> None:
        """Advance virtual time (device models act on the way)."""
        self.timing.sleep(seconds)

    def advance(self, seconds: float) -> None:
        """Same as ``sleep``: for drivers of a simulation loop."""
        self.timing.sleep(seconds)

    def clock_synced(self) -> bool:
        """Virtual time is always in sync."""
        return True
