"""A simulated camera that serves photos from an ImageFolder directory.

What the world put on the tray chooses the photo: the item's category names the
sub-directory (``cardboard/``, ``glass/``, ...) and its ``photo_index`` picks a file
(modulo their number), so a test knows which photo the classifier will see. An empty tray
is a plain grey frame. Faults make the camera absent, time out or deliver black frames.
Both simulation depths use it.

Where no directory is configured (or it is missing) it looks for
``../shared/data/trashnet-dev`` from the working directory and from the repository root;
if that is absent too, it synthesises a plain image per category and warns once.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from agent.hardware.devices import Image
from agent.hardware.hal.camera import CameraAbsent
from simulator.device.faults import FaultInjector
from simulator.device.physical import PhysicalBin

logger = logging.getLogger(__name__)

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SYNTHETIC_SIZE = (240, 320)
EMPTY_TRAY_GREY = 96
SHARED_DATA = Path("..") / "shared" / "data" / "trashnet-dev"
REPO_ROOT = Path(__file__).resolve().parents[1]


def find_photo_dir(configured: Path | None) -> Path | None:
    """The configured directory if it exists, else ../shared/data/trashnet-dev from the
    working directory or the repository root, else None."""
    candidates = [configured] if configured is not None else []
    candidates += [Path.cwd() / SHARED_DATA, REPO_ROOT / SHARED_DATA]
    for candidate in candidates:
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


class ImageFolderCamera:
    """:class:`agent.hardware.hal.camera.CameraBackend` showing the photo of what is on the tray."""

    def __init__(
        self,
        physical: PhysicalBin,
        *,
        images_dir: Path | None = None,
        faults: FaultInjector | None = None,
        sleep: Callable[[float], None] | None = None,
        capture_s: float = 0.0,
    ) -> None:
        self._physical = physical
        self._capture_s = capture_s
        self._faults = faults or FaultInjector()
        self._sleep = sleep
        self._dir = find_photo_dir(images_dir)
        self._files: dict[str, list[Path]] = {}
        self._lock = threading.Lock()
        self._warned = False
        self.is_open = False
        self.captures = 0
        self.last_photo: Path | None = None
        if images_dir is not None and self._dir != images_dir:
            logger.warning("photo directory %s not found; using %s", images_dir, self._dir)

    @property
    def photo_dir(self) -> Path | None:
        """Where photos come from (None: synthesised)."""
        return self._dir

    def open(self) -> None:
        """Ready, unless the camera is absent."""
        if self._faults.camera == "absent":
            raise CameraAbsent("no camera detected (simulated fault)")
        self.is_open = True

    def capture(self, timeout_s: float) -> Image:
        """The photo of the tray's item as RGB uint8."""
        fault = self._faults.camera
        if fault == "absent":
            self.is_open = False
            raise CameraAbsent("camera disappeared (simulated fault)")
        if fault == "timeout":
            if self._sleep is not None:
                self._sleep(timeout_s)
            raise TimeoutError(f"no frame within {timeout_s:g} s (simulated fault)")
        if self._sleep is not None and self._capture_s > 0:
            self._sleep(self._capture_s)  # exposure and readout take bin time
        with self._physical.lock:
            item = self._physical.tray
        frame = self._photo(item.category, item.photo_index) if item else self._empty_tray()
        self.captures += 1
        if fault == "black_frame":
            return np.zeros_like(frame)
        return frame

    def close(self) -> None:
        """Nothing to release."""
        self.is_open = False

    def _photo(self, category: str, index: int) -> Image:
        files = self._category_files(category)
        if not files:
            return self._synthetic(category)
        path = files[index % len(files)]
        self.last_photo = path
        with PILImage.open(path) as photo:
            return np.asarray(photo.convert("RGB"), dtype=np.uint8).copy()

    def _category_files(self, category: str) -> list[Path]:
        with self._lock:
            if category not in self._files:
                folder = self._dir / category if self._dir is not None else None
                self._files[category] = (
                    sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
                    if folder is not None and folder.is_dir()
                    else []
                )
            return self._files[category]

    def _synthetic(self, category: str) -> Image:
        if not self._warned:
            self._warned = True
            logger.warning(
                "no photos for %r (looked in %s): serving synthesised images",
                category,
                self._dir or "nowhere: no photo directory found",
            )
        self.last_photo = None
        seed = zlib.crc32(category.encode())
        colour = np.array([64 + seed % 160, 64 + (seed >> 8) % 160, 64 + (seed >> 16) % 160])
        frame = np.empty((*SYNTHETIC_SIZE, 3), dtype=np.uint8)
        frame[:] = colour.astype(np.uint8)
        return frame

    def _empty_tray(self) -> Image:
        self.last_photo = None
        return np.full((*SYNTHETIC_SIZE, 3), EMPTY_TRAY_GREY, dtype=np.uint8)
