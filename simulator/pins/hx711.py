"""An HX711 behind two simulated pins: DOUT (driven) and PD_SCK (listened to).

It converts continuously at 10 or 80 samples per second; DOUT goes low when a conversion
is ready. Each rising clock edge shifts out the next bit, MSB first; the 25th pulse sends
DOUT high again, and the number of pulses (25, 26, 27) selects channel A/128, B/32 or A/64
for the following conversions. A clock held high for more than 60 us powers the chip down
(DOUT high); bringing it low resets it to A/128 and it settles again. The load is the
world's tray mass, with noise and an offset that drifts with temperature.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from simulator.device.faults import FaultInjector
from simulator.pins.model import PinModel

POWER_DOWN_NS = 60_000
PULSES_TO_GAIN = {25: 128, 26: 32, 27: 64}
RAW_MAX = 0x7FFFFF
RAW_MIN = -0x800000


class Hx711Model(PinModel):
    """The HX711 and its load cell."""

    def __init__(
        self,
        *,
        dout: int,
        sck: int,
        load_g: Callable[[], float],
        temp_c: Callable[[], float],
        faults: FaultInjector,
        rng: random.Random,
        offset: int,
        counts_per_g: float,
        noise_counts: float,
        drift_counts_per_c: float,
        rate_sps: int = 10,
    ) -> None:
        self.dout = dout
        self.sck = sck
        self.driven = (dout,)
        self.listens = (sck,)
        self._load_g = load_g
        self._temp_c = temp_c
        self._faults = faults
        self._rng = rng
        self.offset = offset
        self.counts_per_g = counts_per_g
        self.noise_counts = noise_counts
        self.drift_counts_per_c = drift_counts_per_c
        self.period_ns = round(1e9 / rate_sps)
        self.settle_ns = 4 * self.period_ns
        self.gain = 128
        self.power_downs = 0
        self.reads = 0
        self._sck_level = 0
        self._sck_high_since: int | None = None
        self._reset(0)

    def _reset(self, now_ns: int) -> None:
        self._epoch = now_ns + self.settle_ns  # first conversion ready then
        self._consumed = -1
        self._read_index = -1
        self._reading = False
        self._pulses = 0
        self._word = 0
        self.gain = 128

    def _available(self, now_ns: int) -> int:
        """Index of the newest finished conversion (-1 before the first)."""
        if now_ns < self._epoch:
            return -1
        return (now_ns - self._epoch) // self.period_ns

    def _next_conversion_ns(self, now_ns: int) -> int:
        if now_ns < self._epoch:
            return self._epoch
        return self._epoch + (self._available(now_ns) + 1) * self.period_ns

    def _powered_down(self, now_ns: int) -> bool:
        return self._sck_high_since is not None and now_ns - self._sck_high_since > POWER_DOWN_NS

    def level(self, pin: int, now_ns: int) -> int | None:
        """DOUT: low when ready, the current bit while shifting, high otherwise."""
        fault = self._faults.hx711
        if fault == "stuck_high":
            return 1
        if fault == "stuck_low":
            return 0
        if fault == "floating":
            return self._sck_level  # an undriven line picks up the clock next to it
        if self._powered_down(now_ns):
            return 1
        if self._reading:
            if self._pulses <= 24:
                return (self._word >> (24 - self._pulses)) & 1
            return 1
        return 0 if self._available(now_ns) > self._consumed else 1

    def next_event_ns(self, now_ns: int) -> int | None:
        """When DOUT may change by itself: the next conversion, or power-down."""
        idle_ready = not self._reading and self._available(now_ns) > self._consumed
        times = [] if idle_ready else [self._next_conversion_ns(now_ns)]
        if self._sck_high_since is not None:
            times.append(self._sck_high_since + POWER_DOWN_NS + 1)
        later = [t for t in times if t > now_ns]
        return min(later) if later else None

    def advance(self, now_ns: int) -> None:
        """A read ends when the next conversion lands (an abandoned one too)."""
        if self._reading and self._available(now_ns) > self._read_index:
            self._reading = False

    def on_output(self, pin: int, level: int, now_ns: int) -> None:
        """PD_SCK edges: shift a bit on rising; reset after a power-down on falling."""
        if level == self._sck_level:
            return
        self._sck_level = level
        if level == 1:
            self._sck_high_since = now_ns
            self._clock_rising(now_ns)
            return
        high_since, self._sck_high_since = self._sck_high_since, None
        if high_since is not None and now_ns - high_since > POWER_DOWN_NS:
            self.power_downs += 1
            self._reset(now_ns)

    def _clock_rising(self, now_ns: int) -> None:
        if self._reading:
            self._pulses += 1
            if self._pulses >= 25:
                self.gain = PULSES_TO_GAIN.get(min(self._pulses, 27), self.gain)
                self._consumed = max(self._consumed, self._read_index)
            return
        newest = self._available(now_ns)
        if newest <= self._consumed:
            return  # not ready: the chip ignores the clock
        self._reading = True
        self._read_index = newest
        self._pulses = 1
        self.reads += 1
        self._word = self._convert() & 0xFFFFFF

    def _convert(self) -> int:
        if self._faults.hx711 == "saturated":
            return RAW_MAX
        if self.gain == 32:  # channel B: nothing connected, just noise
            value = self._rng.gauss(0.0, self.noise_counts)
        else:
            drift = self.drift_counts_per_c * (self._temp_c() - 20.0)
            signal = self.offset + drift + self._load_g() * self.counts_per_g
            value = signal * self.gain / 128 + self._rng.gauss(0.0, self.noise_counts)
        return max(RAW_MIN, min(RAW_MAX, round(value)))
