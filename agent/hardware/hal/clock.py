"""The clock drivers time pulses and edges on.

Drivers need nanoseconds for edges (1 cm of ultrasonic range is 58 us of echo) and a
sleep for the gaps between pings and pulses. On a Pi this is ``time.perf_counter_ns`` and
``time.sleep``; in the pin-level simulator it is the simulator's virtual clock, so the
same driver code runs deterministically. It is the agent's :class:`agent.clock.Clock`
idea with a high-resolution counter: :func:`timing_clock_for` derives one from the other.
"""

from __future__ import annotations

import time
from typing import Protocol

from agent.clock import Clock, SystemClock


class TimingClock(Protocol):
    """A monotonic nanosecond counter and a sleep on the same time base."""

    def monotonic_ns(self) -> int:
        """Nanoseconds on a clock that never jumps."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...


class SystemTimingClock:
    """The machine's performance counter and a real sleep: what drivers use on a Pi."""

    def monotonic_ns(self) -> int:
        """``time.perf_counter_ns``: the finest monotonic counter Python offers."""
        return time.perf_counter_ns()

    def sleep(self, seconds: float) -> None:
        """A real sleep (the kernel rounds short ones up; drivers allow for that)."""
        if seconds > 0:
            time.sleep(seconds)


class AgentTimingClock:
    """A timing clock on top of an agent clock (a ManualClock in tests), for drivers
    that need no finer time than the agent's (switch debounce, flap, buzzer)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def monotonic_ns(self) -> int:
        """The agent clock's monotonic seconds, in nanoseconds."""
        return round(self._clock.monotonic() * 1e9)

    def sleep(self, seconds: float) -> None:
        """Sleep on the agent clock."""
        self._clock.sleep(seconds)


def timing_clock_for(clock: Clock) -> TimingClock:
    """The timing clock matching an agent clock: the performance counter for the system
    clock, the agent clock itself (in nanoseconds) for a virtual one."""
    if isinstance(clock, SystemClock):
        return SystemTimingClock()
    return AgentTimingClock(clock)
