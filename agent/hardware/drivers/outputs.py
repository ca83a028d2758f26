"""Outputs facing the consumer and the container: LEDs, buzzer, door lock and flap.

LEDs, buzzer and lock have no feedback, so they are ``ok`` while their pins can be
driven. The flap has feedback through the beam: after a drop the tray must be clear
within ``clear_timeout_ms``, or the flap is reported ``jammed``; the next drop that
clears the tray clears the fault.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from agent.hardware.devices import Colour, DeviceStatus
from agent.hardware.drivers.health import Health
from agent.hardware.hal.clock import TimingClock
from agent.hardware.hal.gpio import HIGH, LOW, OUT, Gpio, Pwm
from firmware_config.schema import FlapDrive

CLEAR_POLL_S = 0.02
SERVO_SETTLE_S = 0.3


class LedIndicators:
    """:class:`agent.hardware.devices.Indicators`: three LEDs (one lit at a time) and a buzzer."""

    component = "door"

    def __init__(
        self, gpio: Gpio, clock: TimingClock, *, green: int, amber: int, red: int, buzzer: int
    ) -> None:
        self._gpio = gpio
        self._clock = clock
        self._leds: dict[Colour, int] = {"green": green, "amber": amber, "red": red}
        self._buzzer = buzzer
        self._health = Health(self.component)
        self.lit: Colour | None = None
        for pin in [*self._leds.values(), buzzer]:
            gpio.setup(pin, OUT, initial=LOW)

    def show(self, colour: Colour | None) -> None:
        """Light ``colour`` and switch the others off (None: all off)."""
        for name, pin in self._leds.items():
            self._gpio.output(pin, HIGH if name == colour else LOW)
        self.lit = colour

    def beep(self, duration_s: float = 0.1) -> None:
        """Sound the (active) buzzer for ``duration_s``; blocks that long."""
        self._gpio.output(self._buzzer, HIGH)
        try:
            self._clock.sleep(duration_s)
        finally:
            self._gpio.output(self._buzzer, LOW)

    def status(self) -> DeviceStatus:
        """Always ok: LEDs and buzzer report nothing back."""
        return self._health.status()

    def close(self) -> None:
        """Everything off."""
        self.show(None)
        self._gpio.output(self._buzzer, LOW)


class LockSolenoid:
    """:class:`agent.hardware.devices.Lock`: a solenoid driver, high = locked.

    The output starts at ``locked`` (the state the bin's database holds, read for it by
    :func:`agent.storage.lock_state.persisted_lock_state`), so a locked bin stays
    locked through a restart of the agent: the pin is never driven low on the
    way up, and neither ``close`` nor the final GPIO cleanup releases it on the way
    down (see :class:`agent.hardware.drivers.assemble.GpioRelease` and docs/hardware.md).
    """

    component = "door"

    def __init__(self, gpio: Gpio, pin: int, *, locked: bool = False) -> None:
        self._gpio = gpio
        self._pin = pin
        self._locked = locked
        self._health = Health(self.component)
        gpio.setup(pin, OUT, initial=HIGH if locked else LOW)

    @property
    def pin(self) -> int:
        """The BCM pin of the solenoid driver."""
        return self._pin

    def set_locked(self, locked: bool) -> None:
        """Energise (lock) or release (unlock) the solenoid."""
        self._gpio.output(self._pin, HIGH if locked else LOW)
        self._locked = locked

    @property
    def locked(self) -> bool:
        """Whether the lock is energised."""
        return self._locked

    def status(self) -> DeviceStatus:
        """Always ok: the lock reports nothing back."""
        return self._health.status()

    def close(self) -> None:
        """Leave the lock as it is: a restart must not unlock a full bin."""


TrayClear = Callable[[], bool]
"""Feedback after a drop: True once the tray is empty (the beam is whole again)."""


class _FlapBase(ABC):
    """What every flap shares: the drop, its jam check and its health."""

    component = "flap"

    def __init__(
        self, clock: TimingClock, settings: FlapDrive, tray_clear: TrayClear | None
    ) -> None:
        self._clock = clock
        self._settings = settings
        self._tray_clear = tray_clear
        self._health = Health(self.component)
        self._lock = threading.Lock()
        self.drops = 0

    def status(self) -> DeviceStatus:
        """Health after the last drop."""
        return self._health.status()

    def drop(self) -> None:
        """Open and close the flap; raises DeviceError ``jammed`` if the tray stays full."""
        with self._lock:
            if self._tray_clear is None:
                self._actuate()
                self.drops += 1
                self._health.ok()
                return
            had_item = not self._tray_clear()
            self._actuate()
            self.drops += 1
            if not had_item:
                return  # nothing to verify the flap with: its health stays as it was
            if self._wait_clear():
                self._health.ok()
                return
            raise self._health.fail(
                "jammed",
                f"tray still occupied {self._settings.clear_timeout_ms} ms after the flap opened",
            )

    def _wait_clear(self) -> bool:
        assert self._tray_clear is not None
        deadline = self._clock.monotonic_ns() + self._settings.clear_timeout_ms * 1_000_000
        while not self._tray_clear():
            if self._clock.monotonic_ns() >= deadline:
                return False
            self._clock.sleep(CLEAR_POLL_S)
        return True

    @abstractmethod
    def _actuate(self) -> None:
        """Open the flap, hold it, close it."""


class ServoFlap(_FlapBase):
    """:class:`agent.hardware.devices.Flap` on a hobby servo (50 Hz PWM, 1-2 ms pulses)."""

    def __init__(
        self,
        gpio: Gpio,
        clock: TimingClock,
        pin: int,
        settings: FlapDrive,
        tray_clear: TrayClear | None = None,
    ) -> None:
        super().__init__(clock, settings, tray_clear)
        gpio.setup(pin, OUT, initial=LOW)
        self._pwm: Pwm = gpio.PWM(pin, settings.servo_hz)
        self._pwm.start(0.0)

    def duty(self, pulse_us: int) -> float:
        """The duty cycle (percent) of a pulse width at the servo frequency."""
        return pulse_us * 1e-6 * self._settings.servo_hz * 100.0

    def _actuate(self) -> None:
        settings = self._settings
        self._pwm.ChangeDutyCycle(self.duty(settings.open_pulse_us))
        self._clock.sleep(settings.open_ms / 1000)
        self._pwm.ChangeDutyCycle(self.duty(settings.closed_pulse_us))
        self._clock.sleep(SERVO_SETTLE_S)
        self._pwm.ChangeDutyCycle(0.0)  # no pulses: the servo rests and does not jitter

    def close(self) -> None:
        """Stop the PWM."""
        self._pwm.stop()


class SolenoidFlap(_FlapBase):
    """:class:`agent.hardware.devices.Flap` on a solenoid that releases a sprung flap."""

    def __init__(
        self,
        gpio: Gpio,
        clock: TimingClock,
        pin: int,
        settings: FlapDrive,
        tray_clear: TrayClear | None = None,
    ) -> None:
        super().__init__(clock, settings, tray_clear)
        self._gpio = gpio
        self._pin = pin
        gpio.setup(pin, OUT, initial=LOW)

    def _actuate(self) -> None:
        self._gpio.output(self._pin, HIGH)
        try:
            self._clock.sleep(self._settings.solenoid_pulse_ms / 1000)
        finally:
            self._gpio.output(self._pin, LOW)

    def close(self) -> None:
        """De-energise the solenoid."""
        self._gpio.output(self._pin, LOW)
