"""Device-level simulated hardware: the agent's device interfaces fed by a PhysicalBin.

No pins here: each device turns the physical state into the reading a healthy (or
faulty) driver would return, with noise from a seeded random generator. This is the
depth that runs hundreds of bins in one process; ``simulator.pins`` is the depth that
exercises the real drivers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from agent.clock import Clock
from agent.hardware.devices import (
    BinHardware,
    Camera,
    Colour,
    DeviceError,
    DeviceStatus,
    FillReading,
)
from agent.hardware.drivers.camera import CameraDriver
from firmware_config.schema import DeviceConfig
from simulator.device.camera import ImageFolderCamera
from simulator.device.faults import FaultInjector
from simulator.device.physical import PhysicalBin

# How each injected fault shows at device level: (fault code, detail).
ULTRASONIC_FAULTS = {
    "no_echo": ("no_echo", "no ping returned an echo"),
    "echo_stuck": ("echo_stuck", "echo line stuck high"),
    "blind_zone": ("blind_zone", "target inside the blind zone"),
}
HX711_FAULTS = {
    "stuck_high": ("not_ready", "HX711 never became ready"),
    "stuck_low": ("data_stuck", "HX711 data line stuck low"),
    "floating": ("disconnected", "HX711 reads all ones"),
    "saturated": ("saturated", "HX711 reading saturated"),
}


class _Status:
    """Keeps the last status of a simulated device."""

    component = "unknown"

    def __init__(self) -> None:
        self._status = DeviceStatus.ok()

    def status(self) -> DeviceStatus:
        """Last known health."""
        return self._status

    def _fail(self, code: str, detail: str) -> DeviceError:
        self._status = DeviceStatus("failed", code, detail)
        return DeviceError(self.component, code, detail)

    def _ok(self) -> None:
        self._status = DeviceStatus.ok()


class SimFillSensor(_Status):
    """Median of a few noisy pings at the contents' surface."""

    component = "ultrasonic"

    def __init__(
        self,
        physical: PhysicalBin,
        config: DeviceConfig,
        rng: random.Random,
        faults: FaultInjector,
    ) -> None:
        super().__init__()
        self.physical = physical
        self.calibration = config.calibration
        self.pings = config.ultrasonic.pings
        self.rng = rng
        self.faults = faults

    def measure(self, temp_c: float | None = None) -> FillReading:
        """Fill from the surface distance, with 1 % ping noise and a rare wall echo."""
        fault = ULTRASONIC_FAULTS.get(self.faults.ultrasonic)
        if fault is not None:
            raise self._fail(*fault)
        true = self.physical.surface_distance_mm
        samples = sorted(true * (1 + self.rng.gauss(0, 0.01)) for _ in range(self.pings))
        distance = samples[len(samples) // 2]
        self._ok()
        empty = self.calibration.empty_distance_mm
        full = self.calibration.full_distance_mm
        fill = (empty - distance) / (empty - full) * 100.0
        return FillReading(
            fill_pct=min(max(fill, 0.0), 100.0),
            distance_mm=distance,
            valid_pings=self.pings,
            total_pings=self.pings,
        )


class SimTemperature(_Status):
    """The container's air temperature."""

    component = "ultrasonic"

    def __init__(self, physical: PhysicalBin, faults: FaultInjector) -> None:
        super().__init__()
        self.physical = physical
        self.faults = faults

    def read_c(self) -> float | None:
        """Air temperature, or None when the probe has failed."""
        fault = self.faults.temperature
        if fault != "none":
            self._status = DeviceStatus("degraded", f"temp_{fault}", "temperature probe failed")
            return None
        self._ok()
        return self.physical.air_temp_c


class SimScale(_Status):
    """Tray load cell with half a gram of noise."""

    component = "loadcell"

    def __init__(self, physical: PhysicalBin, rng: random.Random, faults: FaultInjector) -> None:
        super().__init__()
        self.physical = physical
        self.rng = rng
        self.faults = faults
        self.offset_g = 0.0
        self.noise_g = 0.5
        """Standard deviation of readings; a large value keeps the weight from settling."""

    def read_g(self, samples: int | None = None) -> float:
        """Net grams on the tray (device level: one noisy value whatever ``samples``)."""
        fault = HX711_FAULTS.get(self.faults.hx711)
        if fault is not None:
            raise self._fail(*fault)
        self._ok()
        noise = self.rng.gauss(0, self.noise_g)
        return self.physical.tray_mass_g + noise - self.offset_g

    def tare(self) -> int:
        """Zero the current reading."""
        self.offset_g = self.physical.tray_mass_g
        return int(self.offset_g)


class SimDoor(_Status):
    """The intake door switch."""

    component = "door"

    def __init__(self, physical: PhysicalBin, faults: FaultInjector) -> None:
        super().__init__()
        self.physical = physical
        self.faults = faults

    def is_open(self) -> bool:
        """Whether the door is open (a consumer, or a door that will not close)."""
        return self.physical.door_open or self.faults.door == "left_open"


class SimBeam(_Status):
    """The IR break-beam."""

    component = "door"

    def __init__(self, physical: PhysicalBin) -> None:
        super().__init__()
        self.physical = physical

    def is_broken(self) -> bool:
        """Whether a hand or an item is in the chamber."""
        return self.physical.beam_broken


class SimFlap(_Status):
    """Drops the tray's item into the container, unless jammed."""

    component = "flap"

    def __init__(self, physical: PhysicalBin, faults: FaultInjector) -> None:
        super().__init__()
        self.physical = physical
        self.faults = faults

    def drop(self) -> None:
        """Open and close the flap."""
        if self.faults.flap == "jammed":
            raise self._fail("jammed", "item still on the tray after the flap cycle")
        self.physical.drop_tray_into_container()
        self._ok()


class SimLock(_Status):
    """The door lock solenoid."""

    component = "door"

    def __init__(self, physical: PhysicalBin) -> None:
        super().__init__()
        self.physical = physical

    def set_locked(self, locked: bool) -> None:
        """Lock or unlock the intake door."""
        with self.physical.lock:
            self.physical.door_locked = locked

    @property
    def locked(self) -> bool:
        """Whether the door is locked."""
        return self.physical.door_locked


@dataclass
class SimIndicators(_Status):
    """LEDs and buzzer, remembering what they showed and when."""

    clock: Clock
    history: list[tuple[float, str]] = field(default_factory=list)
    component: str = "door"

    def __post_init__(self) -> None:
        _Status.__init__(self)

    def show(self, colour: Colour | None) -> None:
        """Light one LED."""
        self.history.append((self.clock.monotonic(), colour or "off"))
        del self.history[:-50]

    def beep(self, duration_s: float = 0.1) -> None:
        """Sound the buzzer."""
        self.history.append((self.clock.monotonic(), "beep"))
        del self.history[:-50]

    @property
    def colour(self) -> str:
        """The LED currently lit (``off`` when none)."""
        for _, what in reversed(self.history):
            if what != "beep":
                return what
        return "off"


def build_device_hardware(
    config: DeviceConfig,
    clock: Clock,
    physical: PhysicalBin,
    camera: Camera | None = None,
    *,
    rng: random.Random | None = None,
    faults: FaultInjector | None = None,
) -> BinHardware:
    """The device-level hardware of one simulated bin.

    Without a ``camera``, photos come from the ImageFolder camera (by what is on the
    tray), through the same camera driver a real bin uses.
    """
    rng = rng or random.Random(config.simulation.seed)
    faults = faults or FaultInjector(config.simulation.faults)
    if camera is None:
        folder = ImageFolderCamera(physical, images_dir=config.simulation.images_dir, faults=faults)
        camera = CameraDriver(folder)
    hardware = BinHardware(
        fill=SimFillSensor(physical, config, rng, faults),
        temperature=SimTemperature(physical, faults),
        scale=SimScale(physical, rng, faults),
        door=SimDoor(physical, faults),
        beam=SimBeam(physical),
        camera=camera,
        flap=SimFlap(physical, faults),
        lock=SimLock(physical),
        indicators=SimIndicators(clock),
    )
    return hardware
