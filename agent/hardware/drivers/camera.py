"""The camera above the tray, on any :class:`agent.hardware.hal.camera.CameraBackend`.

Captures have a timeout. A camera that cannot be found is ``failed``/``absent`` and is
looked for again at the next capture; one that times out is closed and reopened next
time; a frame darker than ``black_level`` (lens covered, LED dead, sensor fault) is a
``black_frame``. A good capture clears any of them.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from agent.hardware.devices import DeviceStatus, Image
from agent.hardware.drivers.health import Health
from agent.hardware.hal.camera import CameraAbsent, CameraBackend

logger = logging.getLogger(__name__)


class CameraDriver:
    """:class:`agent.hardware.devices.Camera` on a camera backend."""

    component = "camera"

    def __init__(self, backend: CameraBackend, *, black_level: float = 8.0) -> None:
        self._backend = backend
        self._black_level = black_level
        self._health = Health(self.component)
        self._lock = threading.Lock()
        self._open = False

    def status(self) -> DeviceStatus:
        """Health after the last capture."""
        return self._health.status()

    def capture(self, timeout_s: float = 1.0) -> Image:
        """One RGB still; raises DeviceError ``absent``, ``timeout`` or ``black_frame``.

        The default leaves a timed-out capture inside the 1.5 s decision budget (the
        intake passes its own, bounded, timeout)."""
        with self._lock:
            try:
                if not self._open:
                    self._backend.open()
                    self._open = True
                frame = self._backend.capture(timeout_s)
            except CameraAbsent as err:
                self._close_backend()
                raise self._health.fail("absent", str(err)) from None
            except TimeoutError as err:
                self._close_backend()
                raise self._health.fail(
                    "timeout", str(err) or f"no frame in {timeout_s:g} s"
                ) from None
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise self._health.fail("bad_frame", f"frame {frame.shape} {frame.dtype}")
            brightness = float(frame.mean())
            if brightness < self._black_level:
                raise self._health.fail(
                    "black_frame", f"mean brightness {brightness:.1f} < {self._black_level:g}"
                )
            self._health.ok()
            return frame

    def close(self) -> None:
        """Release the camera."""
        with self._lock:
            self._close_backend()

    def _close_backend(self) -> None:
        self._open = False
        try:
            self._backend.close()
        except (RuntimeError, OSError) as err:
            logger.warning("camera close failed: %s", err)
