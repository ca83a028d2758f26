"""The camera interface and its real backend on picamera2.

A :class:`CameraBackend` opens a camera, captures one RGB still within a timeout and
closes. The :class:`agent.hardware.drivers.camera.CameraDriver` turns its failures into health
and fault codes. picamera2 is imported only when the real backend is built; it comes
from the OS packages (``apt install python3-picamera2``), so the venv must see them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from agent.errors import HardwareUnavailable
from agent.hardware.devices import Image

logger = logging.getLogger(__name__)

PICAMERA2_FIX = (
    "install python3-picamera2 from the OS packages on a Raspberry Pi and create the venv "
    "with --system-site-packages"
)


class CameraAbsent(RuntimeError):
    """No camera answers: not connected, not detected, or held by another process."""


class CameraBackend(Protocol):
    """Where stills come from: picamera2 on a Pi, a folder of photos in the simulator."""

    def open(self) -> None:
        """Get the camera ready; raises CameraAbsent when there is none."""
        ...

    def capture(self, timeout_s: float) -> Image:
        """One RGB still, shape (height, width, 3); raises TimeoutError or CameraAbsent."""
        ...

    def close(self) -> None:
        """Release the camera; safe to call twice or when never opened."""
        ...


def import_picamera2() -> ModuleType:
    """Import ``picamera2``; raise HardwareUnavailable with one line if that fails."""
    try:
        return importlib.import_module("picamera2")
    except (ImportError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HardwareUnavailable(
            f"picamera2 is not available ({first}): {PICAMERA2_FIX}"
        ) from None


class Picamera2Backend:
    """:class:`CameraBackend` on picamera2: a still configuration, a capture job waited on
    with a timeout (a capture never hangs the agent), the frame turned into RGB.

    The main stream is requested as ``RGB888``, which picamera2 delivers as [B, G, R]
    per pixel (its names follow the DRM fourcc, little-endian); the backend reverses it.
    """

    def __init__(
        self, camera_num: int = 0, importer: Callable[[], ModuleType] = import_picamera2
    ) -> None:
        self._module: Any = importer()
        self._camera_num = camera_num
        self._camera: Any = None

    def open(self) -> None:
        """Open and start the camera in still mode."""
        if self._camera is not None:
            return
        picamera2 = self._module.Picamera2
        try:
            if not picamera2.global_camera_info():
                raise CameraAbsent("no camera detected (check the ribbon cable)")
            camera = picamera2(self._camera_num)
        except RuntimeError as err:
            raise CameraAbsent(f"camera {self._camera_num} cannot be opened: {err}") from None
        try:
            config = camera.create_still_configuration(main={"format": "RGB888"})
            camera.configure(config)
            camera.start()
        except Exception as err:  # noqa: BLE001 (libcamera raises many kinds; all mean absent)
            camera.close()
            raise CameraAbsent(f"camera {self._camera_num} cannot start: {err}") from None
        self._camera = camera

    def capture(self, timeout_s: float) -> Image:
        """Capture the main stream, waiting at most ``timeout_s``."""
        if self._camera is None:
            self.open()
        job = self._camera.capture_array("main", wait=False)
        try:
            frame = self._camera.wait(job, timeout=timeout_s)
        except TimeoutError:
            raise TimeoutError(f"no frame within {timeout_s:g} s") from None
        array = np.asarray(frame, dtype=np.uint8)
        if array.ndim != 3 or array.shape[2] < 3:
            raise CameraAbsent(f"unexpected frame shape {array.shape}")
        return np.ascontiguousarray(array[:, :, 2::-1])

    def close(self) -> None:
        """Stop and close the camera."""
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
        finally:
            camera.close()
