"""Assembling a bin's drivers on a GPIO, a timing clock, a camera and a 1-wire bus.

The real backend and the pin-level simulator both call :func:`build_drivers`, so what
runs in the simulator is exactly the driver code that runs on the bin.
"""

from __future__ import annotations

import logging

from agent.hardware.devices import BinHardware, TemperatureSensor
from agent.hardware.drivers.camera import CameraDriver
from agent.hardware.drivers.hx711 import Hx711Scale
from agent.hardware.drivers.outputs import LedIndicators, LockSolenoid, ServoFlap, SolenoidFlap
from agent.hardware.drivers.switches import BeamDriver, DoorSwitchDriver
from agent.hardware.drivers.temperature import Ds18b20, NoTemperatureSensor
from agent.hardware.drivers.ultrasonic import UltrasonicFillSensor
from agent.hardware.hal.camera import CameraBackend
from agent.hardware.hal.clock import TimingClock
from agent.hardware.hal.gpio import BCM, Gpio
from agent.hardware.hal.onewire import W1Bus
from firmware_config.schema import DeviceConfig

logger = logging.getLogger(__name__)


class GpioRelease:
    """Closes last: returns every pin the drivers used to an input, but a held lock.

    Cleanup turns an output into an input, which de-energises its driver: for the lock
    solenoid that would unlock a locked bin whenever the agent stops or restarts. While
    the lock is locked its pin is left driven; every other pin is released.
    """

    def __init__(self, gpio: Gpio, pins: list[int]) -> None:
        self._gpio = gpio
        self._pins = pins
        self._done = False
        self.lock: LockSolenoid | None = None

    def close(self) -> None:
        """``GPIO.cleanup()`` once, per pin when the lock must stay energised."""
        if self._done:
            return
        self._done = True
        if self.lock is None or not self.lock.locked:
            self._gpio.cleanup()
            return
        logger.info("leaving the door lock (BCM %d) locked", self.lock.pin)
        for pin in self._pins:
            if pin != self.lock.pin:
                self._gpio.cleanup(pin)


def build_drivers(
    config: DeviceConfig,
    gpio: Gpio,
    clock: TimingClock,
    camera: CameraBackend,
    w1_bus: W1Bus | None,
    *,
    simulation: object | None = None,
    lock_locked: bool = False,
) -> BinHardware:
    """Every device of the bin on the configured pins; on failure the pins are released.

    ``lock_locked`` is the door lock's state to start in (the real backend reads it
    from the bin's database), so a locked bin is not unlocked by a restart.
    """
    gpio.setwarnings(False)
    gpio.setmode(BCM)
    pins = config.pins
    release = GpioRelease(gpio, [getattr(pins, name) for name in type(pins).model_fields])
    try:
        fill = UltrasonicFillSensor(
            gpio,
            clock,
            trigger=pins.ultrasonic_trigger,
            echo=pins.ultrasonic_echo,
            model=config.hardware.ultrasonic_model,
            settings=config.ultrasonic,
            calibration=config.calibration,
        )
        temperature: TemperatureSensor = (
            Ds18b20(w1_bus, read_timeout_ms=config.temperature.read_timeout_ms)
            if w1_bus is not None
            else NoTemperatureSensor()
        )
        scale = Hx711Scale(
            gpio,
            clock,
            dout=pins.hx711_dout,
            sck=pins.hx711_sck,
            settings=config.loadcell,
            calibration=config.calibration,
        )
        door = DoorSwitchDriver(
            gpio,
            clock,
            pins.door_switch,
            debounce_ms=config.switches.door_debounce_ms,
            open_alarm_s=config.thresholds.door_open_alarm_s,
        )
        beam = BeamDriver(gpio, clock, pins.ir_beam, debounce_ms=config.switches.beam_debounce_ms)

        def tray_clear() -> bool:
            return not beam.is_broken()

        flap = (
            ServoFlap(gpio, clock, pins.flap, config.flap, tray_clear)
            if config.hardware.flap == "servo"
            else SolenoidFlap(gpio, clock, pins.flap, config.flap, tray_clear)
        )
        lock = LockSolenoid(gpio, pins.lock, locked=lock_locked)
        release.lock = lock
        indicators = LedIndicators(
            gpio,
            clock,
            green=pins.led_green,
            amber=pins.led_amber,
            red=pins.led_red,
            buzzer=pins.buzzer,
        )
    except BaseException:
        release.close()
        raise
    return BinHardware(
        fill=fill,
        temperature=temperature,
        scale=scale,
        door=door,
        beam=beam,
        camera=CameraDriver(camera, black_level=config.camera.black_level),
        flap=flap,
        lock=lock,
        indicators=indicators,
        extra_close=[release],
        simulation=simulation,
    )
