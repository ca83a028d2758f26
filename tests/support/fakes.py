"""Small fakes for tests that need a device nobody is looking at."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agent.hardware.devices import DeviceError, DeviceStatus, DoorSwitch, Image


class GreyCamera:
    """A camera that always returns the same mid-grey frame."""

    component = "camera"

    def status(self) -> DeviceStatus:
        """Always healthy."""
        return DeviceStatus.ok()

    def capture(self, timeout_s: float = 2.0) -> Image:
        """A 64 x 64 grey photo."""
        return np.full((64, 64, 3), 128, dtype=np.uint8)


@dataclass
class FixedClassification:
    """A classifier answer chosen by the test."""

    category: str
    confidence: float


@dataclass
class ScriptedClassifier:
    """Answers with whatever the test put in ``answer``; counts its calls."""

    answer: FixedClassification = field(
        default_factory=lambda: FixedClassification("plastic", 0.95)
    )
    version: str = "scripted-1"
    calls: list[float | None] = field(default_factory=list)
    error: Exception | None = None
    """Raised instead of answering while set (a broken model, a runtime error)."""

    def classify(self, image: Image, weight_g: float | None) -> FixedClassification:
        """The scripted answer (or the scripted error)."""
        self.calls.append(weight_g)
        if self.error is not None:
            raise self.error
        return self.answer


@dataclass
class FaultyCamera:
    """A camera whose failure the test switches on and off."""

    fault: str | None = None
    component: str = "camera"

    def status(self) -> DeviceStatus:
        """Failed while a fault is set."""
        if self.fault:
            return DeviceStatus("failed", self.fault, f"simulated {self.fault}")
        return DeviceStatus.ok()

    def capture(self, timeout_s: float = 2.0) -> Image:
        """A grey photo, or the configured failure."""
        if self.fault:
            raise DeviceError("camera", self.fault, f"simulated {self.fault}")
        return np.full((64, 64, 3), 128, dtype=np.uint8)


class UnreadableDoor:
    """Wraps a door switch; while ``broken`` every read raises, as a failed input does."""

    component = "door"

    def __init__(self, inner: DoorSwitch) -> None:
        self.inner = inner
        self.broken = False

    def status(self) -> DeviceStatus:
        """Failed while broken."""
        if self.broken:
            return DeviceStatus("failed", "unreadable", "simulated read error")
        return self.inner.status()

    def is_open(self) -> bool:
        """The wrapped switch, or a DeviceError."""
        if self.broken:
            raise DeviceError("door", "unreadable", "simulated read error")
        return self.inner.is_open()
