"""Models of what the Pi's outputs move: the door lock and the flap.

LEDs and the buzzer need no model: the simulator's timestamped pin history is their
record. The lock solenoid sets the physical bin's ``door_locked``. The flap drops the tray
into the container once it has been held open long enough to travel there, unless the
``jammed`` fault holds it shut.
"""

from __future__ import annotations

from simulator.device.faults import FaultInjector
from simulator.device.physical import PhysicalBin
from simulator.pins.model import PinModel

SERVO_TRAVEL_NS = 150_000_000
"""A hobby servo turns 60 degrees in ~0.1 s: the flap is fully open after ~150 ms."""
SOLENOID_RELEASE_NS = 30_000_000


class LockModel(PinModel):
    """A lock solenoid: energised (high) means locked."""

    def __init__(self, *, pin: int, physical: PhysicalBin) -> None:
        self.pin = pin
        self.listens = (pin,)
        self._physical = physical

    def on_output(self, pin: int, level: int, now_ns: int) -> None:
        """Lock or unlock the physical door."""
        with self._physical.lock:
            self._physical.door_locked = bool(level)


class _FlapModel(PinModel):
    def __init__(self, *, pin: int, physical: PhysicalBin, faults: FaultInjector) -> None:
        self.pin = pin
        self.listens = (pin,)
        self._physical = physical
        self._faults = faults
        self._open_at: int | None = None
        self.opened = 0
        self.dropped: list[str] = []

    def _command_open(self, now_ns: int, travel_ns: int) -> None:
        if self._open_at is None:
            self._open_at = now_ns + travel_ns

    def _command_close(self) -> None:
        self._open_at = None

    def next_event_ns(self, now_ns: int) -> int | None:
        """When the flap reaches its open position."""
        return self._open_at if self._open_at is not None and self._open_at > now_ns else None

    def advance(self, now_ns: int) -> None:
        """Open long enough: the tray's item falls (unless the flap is jammed)."""
        if self._open_at is None or now_ns < self._open_at:
            return
        self._open_at = None
        if self._faults.flap == "jammed":
            return
        self.opened += 1
        item = self._physical.drop_tray_into_container()
        if item is not None:
            self.dropped.append(item.category)


class ServoFlapModel(_FlapModel):
    """A servo flap: pulses nearer ``open_pulse_us`` than ``closed_pulse_us`` open it."""

    def __init__(
        self,
        *,
        pin: int,
        physical: PhysicalBin,
        faults: FaultInjector,
        open_pulse_us: float,
        closed_pulse_us: float,
    ) -> None:
        super().__init__(pin=pin, physical=physical, faults=faults)
        self._open_us = open_pulse_us
        self._closed_us = closed_pulse_us
        self.last_pulse_us = 0.0

    def on_pwm(self, pin: int, frequency: float, duty: float, now_ns: int) -> None:
        """Decode the pulse width; no pulses leave the servo where it is."""
        if duty <= 0:
            return
        pulse_us = duty / 100.0 / frequency * 1e6
        self.last_pulse_us = pulse_us
        if abs(pulse_us - self._open_us) < abs(pulse_us - self._closed_us):
            self._command_open(now_ns, SERVO_TRAVEL_NS)
        else:
            self._command_close()


class SolenoidFlapModel(_FlapModel):
    """A solenoid releasing a sprung flap: energised long enough, it opens."""

    def on_output(self, pin: int, level: int, now_ns: int) -> None:
        """Energised: release after the plunger's travel; released early: nothing."""
        if level:
            self._command_open(now_ns, SOLENOID_RELEASE_NS)
        else:
            self._command_close()
