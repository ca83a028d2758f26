"""Assembling a bin's drivers on a GPIO, a timing clock, a camera and a 1-wire bus.

The real backend and the pin-level simulator both call :func:`build_drivers`, so what
runs in the simulator is exactly the driver code that runs on the bin.
"""

from __future__ import annotations

import logging

from agent.devices import BinHardware, TemperatureSensor
from agent.drivers.camera import CameraDriver
from agent.drivers.hx711 import Hx711Scale
from agent.drivers.outputs import LedIndicators, LockSolenoid, ServoFlap, SolenoidFlap
from agent.drivers.switches import BeamDriver, DoorSwitchDriver
from agent.drivers.temperature import Ds18b20, NoTemperatureSensor, W1Bus
from agent.drivers.ultrasonic import UltrasonicFillSensor
from agent.hal.camera import CameraBackend
from agent.hal.clock import TimingClock
from agent.hal.gpio import BCM, Gpio
from firmware_config.schema import DeviceConfig

logger = logging.getLogger(__name__)


class GpioRelease:
    """Closes last: returns every pin the drivers used to an input."""

    def __init__(self, gpio: Gpio) -> None:
        self._gpio = gpio
        self._done = False

    def close(self) -> None:
        """``GPIO.cleanup()``, once."""
        if not self._done:
            self._done = True
            self._gpio.cleanup()


def build_drivers(
    config: DeviceConfig,
    gpio: Gpio,
    clock: TimingClock,
    camera: CameraBackend,
    w1_bus: W1Bus | None,
    *,
    simulation: object | None = None,
) -> BinHardware:
    """Every device of the bin on the configured pins; on failure the pins are released."""
    gpio.setwarnings(False)
    gpio.setmode(BCM)
    pins = config.pins
    release = GpioRelease(gpio)
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
        lock = LockSolenoid(gpio, pins.lock)
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
