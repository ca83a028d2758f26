"""The ultrasonic fill sensor (HC-SR04 or JSN-SR04T) looking down into the container.

One measurement is the median of N pings at least ``ping_interval_ms`` apart. Each ping
is a 10 us trigger and an echo timed from its edges with a deadline; pings that time out,
come back inside the blind zone or beyond the range are dropped and counted. The speed of
sound follows the air temperature. A lost echo is recognised by the sensor's own
behaviour: the HC-SR04 answers it with a ~38 ms pulse, the JSN-SR04T with ~60 ms.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
from collections import Counter
from dataclasses import dataclass

from agent.hardware.devices import DeviceStatus, FillReading
from agent.hardware.drivers.health import Health
from agent.hardware.hal.clock import TimingClock
from agent.hardware.hal.gpio import FALLING, HIGH, IN, LOW, OUT, PUD_DOWN, RISING, Gpio
from firmware_config.schema import Calibration, Ultrasonic

logger = logging.getLogger(__name__)

TRIGGER_S = 10e-6
NO_ECHO_PULSE_S = {"hc-sr04": 0.038, "jsn-sr04t": 0.060}
"""How long each sensor holds its echo line high when no echo came back."""
FLOOR_MARGIN = 1.2
"""Echoes farther than the empty depth by more than this factor cannot be the contents."""


def speed_of_sound_m_s(temp_c: float) -> float:
    """Speed of sound in dry air: 331.3 * sqrt(1 + T / 273.15) m/s."""
    return 331.3 * math.sqrt(1.0 + temp_c / 273.15)


def echo_distance_mm(width_ns: int, temp_c: float) -> float:
    """The one-way distance of an echo ``width_ns`` long (sound goes there and back)."""
    return width_ns * 1e-9 * speed_of_sound_m_s(temp_c) * 1000.0 / 2.0


def fill_percent(distance_mm: float, calibration: Calibration) -> float:
    """Fill from the distance: 0 % at the empty depth, 100 % at the full distance."""
    span = calibration.empty_distance_mm - calibration.full_distance_mm
    pct = (calibration.empty_distance_mm - distance_mm) / span * 100.0
    return min(max(pct, 0.0), 100.0)


@dataclass(frozen=True, slots=True)
class Ping:
    """One ping: the distance when it is usable, else why not."""

    distance_mm: float | None
    problem: str | None = None


class UltrasonicFillSensor:
    """:class:`agent.hardware.devices.FillSensor` on a trigger and an echo pin."""

    component = "ultrasonic"

    def __init__(
        self,
        gpio: Gpio,
        clock: TimingClock,
        *,
        trigger: int,
        echo: int,
        model: str,
        settings: Ultrasonic,
        calibration: Calibration,
    ) -> None:
        self._gpio = gpio
        self._clock = clock
        self._trigger = trigger
        self._echo = echo
        self._settings = settings
        self.calibration = calibration
        self._no_echo_ns = round(NO_ECHO_PULSE_S[model] * 0.9e9)
        self._use_edges = True
        self._last_trigger_ns: int | None = None
        self._health = Health(self.component)
        self._lock = threading.Lock()
        gpio.setup(trigger, OUT, initial=LOW)
        gpio.setup(echo, IN, pull_up_down=PUD_DOWN)

    def status(self) -> DeviceStatus:
        """Health after the last measurement."""
        return self._health.status()

    def measure(self, temp_c: float | None = None) -> FillReading:
        """Median distance of the pings, as fill; raises DeviceError below ``min_valid``."""
        limit = min(self._settings.max_range_mm, self.calibration.empty_distance_mm * FLOOR_MARGIN)
        return self._measure(temp_c, limit)

    def measure_distance(self, temp_c: float | None = None) -> FillReading:
        """Like :meth:`measure` but trusting any echo up to ``max_range_mm`` (the empty-depth
        calibration measures a depth the configuration does not know yet)."""
        return self._measure(temp_c, self._settings.max_range_mm)

    def close(self) -> None:
        """Leave the trigger low."""
        self._gpio.output(self._trigger, LOW)

    def _measure(self, temp_c: float | None, limit_mm: float) -> FillReading:
        temp = self._settings.default_temp_c if temp_c is None else temp_c
        with self._lock:
            pings = [self._spaced_ping(temp, limit_mm) for _ in range(self._settings.pings)]
        valid = [p.distance_mm for p in pings if p.distance_mm is not None]
        problems = Counter(p.problem for p in pings if p.problem is not None)
        total = len(pings)
        summary = f"{len(valid)} of {total} pings valid" + (
            "; " + ", ".join(f"{n} {code}" for code, n in problems.most_common())
            if problems
            else ""
        )
        if len(valid) < self._settings.min_valid:
            code = problems.most_common(1)[0][0]
            raise self._health.fail(code, summary)
        distance = statistics.median(valid)
        if problems:
            self._health.set("degraded", problems.most_common(1)[0][0], summary)
        else:
            self._health.ok()
        return FillReading(
            fill_pct=fill_percent(distance, self.calibration),
            distance_mm=distance,
            valid_pings=len(valid),
            total_pings=total,
        )

    def _spaced_ping(self, temp_c: float, limit_mm: float) -> Ping:
        interval_ns = self._settings.ping_interval_ms * 1_000_000
        if self._last_trigger_ns is not None:
            wait_ns = self._last_trigger_ns + interval_ns - self._clock.monotonic_ns()
            if wait_ns > 0:
                self._clock.sleep(wait_ns / 1e9)
        return self._ping(temp_c, limit_mm)

    def _ping(self, temp_c: float, limit_mm: float) -> Ping:
        gpio, clock = self._gpio, self._clock
        # Still high from the last ping's lost echo? Give it the no-echo time to fall.
        if (
            gpio.input(self._echo) == HIGH
            and self._wait_level(LOW, clock.monotonic_ns() + self._no_echo_ns * 2) is None
        ):
            self._last_trigger_ns = clock.monotonic_ns()
            return Ping(None, "echo_stuck")
        gpio.output(self._trigger, HIGH)
        clock.sleep(TRIGGER_S)
        gpio.output(self._trigger, LOW)
        sent = clock.monotonic_ns()
        self._last_trigger_ns = sent
        deadline = sent + self._settings.echo_timeout_ms * 1_000_000
        rise = self._wait_level(HIGH, deadline)
        if rise is None:
            return Ping(None, "no_echo")
        fall = self._wait_level(LOW, rise + self._settings.echo_timeout_ms * 1_000_000)
        if fall is None:
            return Ping(None, "echo_stuck")
        width = fall - rise
        if width >= self._no_echo_ns:
            return Ping(None, "no_echo")
        distance = echo_distance_mm(width, temp_c)
        if distance < self._settings.blind_zone_mm:
            return Ping(None, "blind_zone")
        if distance > limit_mm:
            return Ping(None, "out_of_range")
        return Ping(distance)

    def _wait_level(self, level: int, deadline_ns: int) -> int | None:
        """The time the echo line reaches ``level``, or None at the deadline."""
        gpio, clock = self._gpio, self._clock
        if gpio.input(self._echo) == level:
            return clock.monotonic_ns()
        if self._use_edges:
            remaining_ms = math.ceil((deadline_ns - clock.monotonic_ns()) / 1e6)
            if remaining_ms <= 0:
                return None
            try:
                channel = gpio.wait_for_edge(
                    self._echo, RISING if level == HIGH else FALLING, timeout=remaining_ms
                )
            except RuntimeError as err:
                logger.warning("edge detection unavailable (%s); timing echoes by polling", err)
                self._use_edges = False
            else:
                return None if channel is None else clock.monotonic_ns()
        while True:
            now = clock.monotonic_ns()
            if gpio.input(self._echo) == level:
                return now
            if now >= deadline_ns:
                return None
