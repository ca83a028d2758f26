"""The tray load cell on an HX711, bit-banged on two GPIO pins.

What the driver guards against, from the datasheet and from bugs in well-known
libraries: a ready-wait without a deadline (it waits at most ``ready_timeout_ms``); a
clock pulse held high too long (over 60 us the chip powers down and comes back at A/128:
every pulse is timed and such a reading is discarded and re-read); a floating data line
(all ones, reported as ``disconnected``); a line stuck low (data still "ready" right
after a read: ``data_stuck``); saturation at 0x7FFFFF / 0x800000 (``saturated``).
Values are median-filtered with outliers dropped; zero is a legitimate value.
"""

from __future__ import annotations

import logging
import statistics
import threading
from dataclasses import dataclass

from agent.hardware.devices import DeviceStatus
from agent.hardware.drivers.health import Health
from agent.hardware.hal.clock import TimingClock
from agent.hardware.hal.gpio import HIGH, IN, LOW, OUT, PUD_UP, Gpio
from firmware_config.schema import Calibration, LoadCell

logger = logging.getLogger(__name__)

GAIN_PULSES = {128: 25, 32: 26, 64: 27}
"""Clock pulses per read: the count selects channel and gain of the next conversion."""

RAW_MAX = 0x7FFFFF
RAW_MIN = -0x800000
ALL_ONES = 0xFFFFFF
READY_POLL_S = 0.001


def decode_24bit(word: int) -> int:
    """A 24-bit two's complement word as a signed integer."""
    word &= 0xFFFFFF
    return word - 0x1000000 if word & 0x800000 else word


@dataclass
class Hx711Stats:
    """What happened while reading, for health reports and tests."""

    conversions: int = 0
    long_pulses: int = 0
    all_ones: int = 0
    priming_reads: int = 0


class _ReadFault(Exception):
    """One conversion could not be used; ``retry`` says whether another may succeed."""

    def __init__(self, code: str, detail: str, *, retry: bool) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry = retry


class Hx711Scale:
    """:class:`agent.hardware.devices.Scale` on an HX711; calibration lives in ``calibration``.

    The tare offset and the counts per gram are read from (and ``tare`` writes to) the
    configuration's calibration section, so ``bin-agent calibrate`` can persist them.
    """

    component = "loadcell"

    def __init__(
        self,
        gpio: Gpio,
        clock: TimingClock,
        *,
        dout: int,
        sck: int,
        settings: LoadCell,
        calibration: Calibration,
    ) -> None:
        self._gpio = gpio
        self._clock = clock
        self._dout = dout
        self._sck = sck
        self._settings = settings
        self.calibration = calibration
        self._pulses = GAIN_PULSES[settings.gain]
        self._max_pulse_ns = settings.max_pulse_us * 1000
        # After power-up or a power-down the chip converts at A/128; any other gain
        # needs one read that sets it, whose own data is still at A/128.
        self._primed = settings.gain == 128
        self._health = Health(self.component)
        self._lock = threading.Lock()
        self.stats = Hx711Stats()
        gpio.setup(dout, IN, pull_up_down=PUD_UP)
        gpio.setup(sck, OUT, initial=LOW)

    def status(self) -> DeviceStatus:
        """Health after the last read."""
        return self._health.status()

    def read_g(self, samples: int | None = None) -> float:
        """Net grams on the tray: (median raw - tare offset) / counts per gram."""
        raw = self.read_raw(samples)
        return (raw - self.calibration.tare_offset) / self.calibration.scale_counts_per_g

    def tare(self) -> int:
        """Take the current (empty-tray) median as the zero; returns the raw offset."""
        raw = self.read_raw()
        self.calibration.tare_offset = raw
        logger.info("load cell tared: offset %d", raw)
        return raw

    def read_raw(self, samples: int | None = None) -> int:
        """Median of ``samples`` conversions, outliers beyond ``outlier_g`` dropped."""
        count = samples if samples is not None else self._settings.samples
        with self._lock:
            try:
                values = [self._read_checked() for _ in range(count)]
            except _ReadFault as fault:
                raise self._health.fail(fault.code, fault.detail) from None
            self._health.ok()
        return filtered_median(
            values, self._settings.outlier_g * self.calibration.scale_counts_per_g
        )

    def close(self) -> None:
        """Leave the clock low (the chip keeps converting) and release the pins."""
        self._gpio.output(self._sck, LOW)

    def _read_checked(self) -> int:
        """One usable conversion, re-read after transient faults up to ``retries`` times."""
        attempts = 1 + self._settings.retries
        last: _ReadFault | None = None
        for _ in range(attempts):
            try:
                if not self._primed:
                    self._read_conversion()
                    self.stats.priming_reads += 1
                    self._primed = True
                return self._read_conversion()
            except _ReadFault as fault:
                if not fault.retry:
                    raise
                last = fault
                logger.debug("HX711 reading discarded (%s), re-reading", fault.detail)
        assert last is not None
        raise _ReadFault(last.code, f"{last.detail} ({attempts} attempts)", retry=False)

    def _read_conversion(self) -> int:
        self._wait_ready()
        word, longest_ns = self._shift_in()
        self.stats.conversions += 1
        if longest_ns > self._max_pulse_ns:
            self.stats.long_pulses += 1
            self._primed = self._settings.gain == 128
            raise _ReadFault(
                "powered_down",
                f"a clock pulse lasted {longest_ns / 1000:.0f} us (> "
                f"{self._max_pulse_ns / 1000:.0f} us): the HX711 may have powered down",
                retry=True,
            )
        if word == ALL_ONES:
            self.stats.all_ones += 1
            raise _ReadFault(
                "disconnected", "read all ones: DOUT floating or HX711 disconnected", retry=True
            )
        if self._gpio.input(self._dout) == LOW:
            raise _ReadFault(
                "data_stuck",
                "DOUT still low after a complete read: data line stuck low",
                retry=False,
            )
        value = decode_24bit(word)
        if value in (RAW_MAX, RAW_MIN):
            raise _ReadFault(
                "saturated",
                f"reading saturated at {value}: load cell wiring open or overloaded",
                retry=False,
            )
        return value

    def _wait_ready(self) -> None:
        deadline = self._clock.monotonic_ns() + self._settings.ready_timeout_ms * 1_000_000
        while self._gpio.input(self._dout) != LOW:
            if self._clock.monotonic_ns() >= deadline:
                raise _ReadFault(
                    "not_ready",
                    f"HX711 not ready within {self._settings.ready_timeout_ms} ms "
                    "(no power, DOUT stuck high or disconnected)",
                    retry=False,
                )
            self._clock.sleep(READY_POLL_S)

    def _shift_in(self) -> tuple[int, int]:
        """Clock out 24 data bits and the gain pulses; returns the word and the longest
        high phase (measured around the calls, so an upper bound)."""
        gpio, clock, sck, dout = self._gpio, self._clock, self._sck, self._dout
        word = 0
        longest = 0
        for index in range(self._pulses):
            start = clock.monotonic_ns()
            gpio.output(sck, HIGH)
            bit = gpio.input(dout) if index < 24 else 0
            gpio.output(sck, LOW)
            longest = max(longest, clock.monotonic_ns() - start)
            if index < 24:
                word = (word << 1) | bit
        return word, longest


def filtered_median(values: list[int], outlier_counts: float) -> int:
    """Median of the values within ``outlier_counts`` of their median (never empty)."""
    middle = statistics.median(values)
    kept = [value for value in values if abs(value - middle) <= outlier_counts]
    return round(statistics.median(kept))
