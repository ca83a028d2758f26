"""A device's health, kept thread-safe: drivers set it, the fault monitor reads it."""

from __future__ import annotations

import threading

from agent.hardware.devices import DeviceError, DeviceStatus
from protocol.messages import ComponentHealth


class Health:
    """The current :class:`DeviceStatus` of one device and the helpers that change it."""

    def __init__(self, component: str) -> None:
        self.component = component
        self._status = DeviceStatus.ok()
        self._lock = threading.Lock()

    def status(self) -> DeviceStatus:
        """The status last set."""
        with self._lock:
            return self._status

    def ok(self) -> None:
        """The device works (a fault it had is cleared)."""
        self.set("ok")

    def set(
        self, health: ComponentHealth, code: str | None = None, detail: str | None = None
    ) -> None:
        """Set the health, with a fault code and detail when it is not ``ok``."""
        status = DeviceStatus() if health == "ok" else DeviceStatus(health, code, detail)
        with self._lock:
            self._status = status

    def fail(self, code: str, detail: str) -> DeviceError:
        """Mark the device failed and return the error to raise."""
        self.set("failed", code, detail)
        return DeviceError(self.component, code, detail)
