"""An ultrasonic sensor (HC-SR04 or JSN-SR04T) behind a trigger and an echo pin.

A trigger pulse of at least 10 us sends a burst; about half a millisecond later the echo
line rises and stays high for the round trip 2d/c, with c from the container's air
temperature. What each sensor does when nothing answers is modelled: the HC-SR04 drops
its echo after ~38 ms, the JSN-SR04T after ~60 ms. Targets closer than the sensor's blind
zone come back as ringing at the edge of it; a wide beam sometimes hears a side wall first.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from simulator.device.faults import FaultInjector
from simulator.pins.model import PinModel

MIN_TRIGGER_NS = 10_000
BLIND_ZONE_TARGET_MM = 100.0
"""Where the ``blind_zone`` fault puts a target: a bag pressed up against the sensor."""


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """What distinguishes the two sensor types."""

    min_mm: float
    max_mm: float
    no_echo_s: float
    burst_s: float


SPECS = {
    "hc-sr04": SensorSpec(min_mm=20.0, max_mm=4000.0, no_echo_s=0.038, burst_s=0.00046),
    "jsn-sr04t": SensorSpec(min_mm=200.0, max_mm=6000.0, no_echo_s=0.060, burst_s=0.00050),
}


def speed_of_sound_m_s(temp_c: float) -> float:
    """The physics (written apart from the driver's copy on purpose)."""
    return 331.3 * math.sqrt(1.0 + temp_c / 273.15)


class UltrasonicModel(PinModel):
    """One sensor looking down at the contents (or at whatever the faults put there)."""

    def __init__(
        self,
        *,
        trigger: int,
        echo: int,
        sensor: str,
        distance_mm: Callable[[], float],
        temp_c: Callable[[], float],
        faults: FaultInjector,
        rng: random.Random,
        noise_mm: float = 2.0,
        wall_echo_mm: float | None = None,
        wall_echo_probability: float = 0.0,
    ) -> None:
        self.trigger = trigger
        self.echo = echo
        self.driven = (echo,)
        self.listens = (trigger,)
        self.spec = SPECS[sensor]
        self._distance_mm = distance_mm
        self._temp_c = temp_c
        self._faults = faults
        self._rng = rng
        self.noise_mm = noise_mm
        self.wall_echo_mm = wall_echo_mm
        self.wall_echo_probability = wall_echo_probability
        self._trigger_since: int | None = None
        self._rise: int | None = None
        self._fall: int | None = None
        self.pings = 0
        self.short_triggers = 0
        self.last_target_mm: float | None = None

    def level(self, pin: int, now_ns: int) -> int | None:
        """Echo high between its rise and fall (always, when stuck)."""
        if self._faults.ultrasonic == "echo_stuck":
            return 1
        if self._rise is not None and self._fall is not None and self._rise <= now_ns < self._fall:
            return 1
        return 0

    def next_event_ns(self, now_ns: int) -> int | None:
        """The echo's next edge."""
        for edge in (self._rise, self._fall):
            if edge is not None and edge > now_ns:
                return edge
        return None

    def on_output(self, pin: int, level: int, now_ns: int) -> None:
        """A trigger pulse of 10 us or more, while idle, sends a ping."""
        if level == 1:
            self._trigger_since = now_ns
            return
        if self._trigger_since is None:
            return
        width = now_ns - self._trigger_since
        self._trigger_since = None
        if width < MIN_TRIGGER_NS:
            self.short_triggers += 1
            return
        if self._fall is not None and now_ns < self._fall:
            return  # still busy with the last ping
        self.pings += 1
        self._rise = now_ns + round(self.spec.burst_s * 1e9)
        self._fall = self._rise + self._echo_width_ns()

    def _echo_width_ns(self) -> int:
        fault = self._faults.ultrasonic
        if fault == "no_echo":
            return self._no_echo()
        target = BLIND_ZONE_TARGET_MM if fault == "blind_zone" else self._distance_mm()
        if (
            self.wall_echo_mm is not None
            and self.wall_echo_probability
            and self._rng.random() < self.wall_echo_probability
        ):
            target = min(target, self.wall_echo_mm)
        if target > self.spec.max_mm:
            return self._no_echo()
        if target < self.spec.min_mm:
            target = self.spec.min_mm * self._rng.uniform(0.7, 1.05)
        target = max(target + self._rng.gauss(0.0, self.noise_mm), 1.0)
        self.last_target_mm = target
        c_mm_per_ns = speed_of_sound_m_s(self._temp_c()) * 1e-6
        return round(2.0 * target / c_mm_per_ns)

    def _no_echo(self) -> int:
        self.last_target_mm = None
        return round(self.spec.no_echo_s * 1e9)
