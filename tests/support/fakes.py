"""Small fakes for tests that need a device nobody is looking at."""

from __future__ import annotations

import numpy as np

from agent.devices import DeviceStatus, Image


class GreyCamera:
    """A camera that always returns the same mid-grey frame."""

    component = "camera"

    def status(self) -> DeviceStatus:
        """Always healthy."""
        return DeviceStatus.ok()

    def capture(self, timeout_s: float = 2.0) -> Image:
        """A 64 x 64 grey photo."""
        return np.full((64, 64, 3), 128, dtype=np.uint8)
