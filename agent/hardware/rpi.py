"""The ``rpi`` hardware backend: the drivers on RPi.GPIO (or rpi-lgpio) and picamera2.

Registered under the ``revloop.hardware`` entry-point group. Off a Raspberry Pi it fails
with one :class:`HardwareUnavailable` line naming the missing library; it never falls
back to a simulator.
"""

from __future__ import annotations

from agent.clock import Clock
from agent.errors import HardwareUnavailable
from agent.hardware.devices import BinHardware
from agent.hardware.drivers.assemble import build_drivers
from agent.hardware.hal.camera import Picamera2Backend
from agent.hardware.hal.clock import timing_clock_for
from agent.hardware.hal.onewire import SysfsW1Bus
from agent.hardware.hal.rpi_gpio import RpiGpio
from agent.storage.lock_state import persisted_lock_state
from firmware_config.schema import DeviceConfig


def build_hardware(config: DeviceConfig, clock: Clock) -> BinHardware:
    """The bin's devices on real pins and the real camera."""
    if config.hardware.temperature_sensor == "sim":
        raise HardwareUnavailable(
            "hardware.temperature_sensor = 'sim' needs a simulated backend; "
            "use 'ds18b20' or 'none' with hardware.backend = 'rpi'"
        )
    gpio = RpiGpio()
    camera = Picamera2Backend(config.hardware.camera_index)
    bus = (
        SysfsW1Bus(config.temperature.w1_devices_dir)
        if config.hardware.temperature_sensor == "ds18b20"
        else None
    )
    locked = persisted_lock_state(config.storage.path)
    return build_drivers(config, gpio, timing_clock_for(clock), camera, bus, lock_locked=locked)
