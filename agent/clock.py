"""Clocks the agent runs on: the system's, or a manual one for tests and the simulator.

The agent measures intervals on ``monotonic()`` and stamps messages with ``now()``;
``clock_synced()`` says whether the wall clock can be trusted (a Pi without an RTC
boots in 1970 or at its last shutdown until NTP has synchronised it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the agent needs of time; injected everywhere so tests never sleep."""

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps."""
        ...

    def now(self) -> datetime:
        """The wall-clock time, UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...

    def clock_synced(self) -> bool:
        """Whether ``now()`` is known to be synchronised."""
        ...


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h> (Linux, LP64 and ILP32 alike use longs).
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("padding", ctypes.c_int * 11),
    ]


_TIME_ERROR = 5  # adjtimex() result: clock not synchronised


def kernel_clock_synced() -> bool:
    """Ask the kernel (adjtimex) whether NTP has synchronised the clock.

    Returns False where the call is unavailable: an unknown clock is not trusted.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return False
    return bool(state >= 0 and state != _TIME_ERROR)


class SystemClock:
    """The real clocks of the machine."""

    def __init__(self, synced: bool | None = None) -> None:
        self._synced_override = synced

    def monotonic(self) -> float:
        """Seconds from ``time.monotonic``."""
        return time.monotonic()

    def now(self) -> datetime:
        """The system's wall clock, UTC."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """A real sleep."""
        if seconds > 0:
            time.sleep(seconds)

    def clock_synced(self) -> bool:
        """The kernel's synchronisation flag, unless overridden at construction."""
        if self._synced_override is not None:
            return self._synced_override
        return kernel_clock_synced()


class ManualClock:
    """A virtual clock that moves only when told to, or when someone sleeps on it.

    Thread-safe: the simulator advances it from one thread while MQTT threads read it.
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        synced: bool = True,
    ) -> None:
        self._epoch = start or datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
        self._elapsed = 0.0
        self._synced = synced
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        """Virtual seconds since the clock was made."""
        with self._lock:
            return self._elapsed

    def now(self) -> datetime:
        """The start time plus the virtual seconds elapsed."""
        with self._lock:
            return self._epoch + timedelta(seconds=self._elapsed)

    def sleep(self, seconds: float) -> None:
        """Advance virtual time instead of waiting."""
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward (never backward)."""
        if seconds < 0:
            raise ValueError(f"cannot advance a clock by {seconds} s")
        with self._lock:
            self._elapsed += seconds

    def set_wall(self, when: datetime, *, synced: bool = True) -> None:
        """Jump the wall clock (as NTP would) without touching monotonic time."""
        with self._lock:
            self._epoch = when - timedelta(seconds=self._elapsed)
            self._synced = synced

    def clock_synced(self) -> bool:
        """Whether the virtual wall clock is marked synchronised."""
        return self._synced
