"""Device-level interfaces: what the agent's logic needs of the bin's hardware.

The agent never touches pins. It talks to these interfaces; the real drivers
(``agent.hardware.hal`` on RPi.GPIO and picamera2), the pin-level simulator and the
device-level simulator all implement them, so one agent runs on every depth.

Every device reports a :class:`DeviceStatus`. A device that cannot do what is
asked raises a :class:`DeviceError` naming itself, and sets its status to
``failed`` (or ``degraded`` when it still works, less well) with a fault code;
the agent turns status changes into ``events/fault``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from protocol.messages import ComponentHealth

Colour = Literal["green", "amber", "red"]
Image = npt.NDArray[np.uint8]
"""An RGB photo, shape (height, width, 3)."""


class DeviceError(RuntimeError):
    """A device could not do what was asked; ``component`` and ``code`` say which and why."""

    def __init__(self, component: str, code: str, detail: str) -> None:
        self.component = component
        self.code = code
        self.detail = detail
        super().__init__(f"{component}: {code}: {detail}")


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device's health and, when it is not ``ok``, the fault code and detail."""

    health: ComponentHealth = "ok"
    code: str | None = None
    detail: str | None = None

    @classmethod
    def ok(cls) -> DeviceStatus:
        """A healthy device."""
        return cls()


@dataclass(frozen=True, slots=True)
class FillReading:
    """One fill measurement: the median of several pings and how many were usable."""

    fill_pct: float
    distance_mm: float
    valid_pings: int
    total_pings: int


@runtime_checkable
class Device(Protocol):
    """Common to every device: a component name (as in ``events/fault``) and a status."""

    component: str

    def status(self) -> DeviceStatus:
        """Current health of the device."""
        ...


class FillSensor(Device, Protocol):
    """Ultrasonic fill-level sensor looking down into the container."""

    def measure(self, temp_c: float | None = None) -> FillReading:
        """Measure the fill (speed of sound corrected for ``temp_c``); raises DeviceError."""
        ...


class TemperatureSensor(Device, Protocol):
    """Container air temperature (speed of sound, fire detection)."""

    def read_c(self) -> float | None:
        """Degrees Celsius, or None when there is no sensor or it failed."""
        ...


class Scale(Device, Protocol):
    """Tray load cell."""

    def read_g(self, samples: int | None = None) -> float:
        """Net grams on the tray (after tare), the median of ``samples`` conversions
        (the configured number when None); raises DeviceError."""
        ...

    def tare(self) -> int:
        """Zero the scale with the tray empty; returns the new raw offset."""
        ...


class DoorSwitch(Device, Protocol):
    """Intake door switch."""

    def is_open(self) -> bool:
        """Whether the door is open (debounced)."""
        ...


class Beam(Device, Protocol):
    """IR break-beam across the intake chamber."""

    def is_broken(self) -> bool:
        """Whether something interrupts the beam (debounced)."""
        ...


class Camera(Device, Protocol):
    """Camera above the tray."""

    def capture(self, timeout_s: float = 2.0) -> Image:
        """Take a still photo; raises DeviceError on absence, timeout or a black frame."""
        ...


class Flap(Device, Protocol):
    """Flap (servo or solenoid) dropping an accepted item into the container."""

    def drop(self) -> None:
        """Open and close the flap; raises DeviceError when it jams."""
        ...


class Lock(Device, Protocol):
    """Door lock solenoid."""

    def set_locked(self, locked: bool) -> None:
        """Lock or unlock the intake door."""
        ...

    @property
    def locked(self) -> bool:
        """Whether the door is locked."""
        ...


class Indicators(Device, Protocol):
    """LEDs and buzzer facing the consumer."""

    def show(self, colour: Colour | None) -> None:
        """Light one LED (or none)."""
        ...

    def beep(self, duration_s: float = 0.1) -> None:
        """Sound the buzzer."""
        ...


@runtime_checkable
class World(Protocol):
    """Something that acts on simulated hardware while the agent runs."""

    def start(self) -> None:
        """Begin acting."""
        ...

    def stop(self) -> None:
        """Stop acting."""
        ...


@dataclass
class BinHardware:
    """Every device of one bin, as the agent sees it."""

    fill: FillSensor
    temperature: TemperatureSensor
    scale: Scale
    door: DoorSwitch
    beam: Beam
    camera: Camera
    flap: Flap
    lock: Lock
    indicators: Indicators
    extra_close: list[object] = field(default_factory=list)
    simulation: object | None = None
    """The simulated world behind simulated hardware (for a world model to drive and tests
    to inject faults into); None on real hardware."""
    world: World | None = None
    """Simulated visitors for a simulated bin run on its own (``bin-agent run``); the
    agent starts them with the runtime. None on real hardware and in fleet runs."""

    def devices(self) -> list[Device]:
        """All devices, for health reports and self-tests."""
        return [
            self.fill,
            self.temperature,
            self.scale,
            self.door,
            self.beam,
            self.camera,
            self.flap,
            self.lock,
            self.indicators,
        ]

    def close(self) -> None:
        """Release pins and cameras; safe to call twice."""
        if self.world is not None:
            self.world.stop()
        for item in [*self.devices(), *self.extra_close]:
            close = getattr(item, "close", None)
            if callable(close):
                close()
