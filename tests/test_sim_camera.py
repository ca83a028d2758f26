"""The simulated camera: photos chosen by the tray, its fallbacks and faults."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from agent.hardware.drivers.camera import CameraDriver
from agent.hardware.hal.camera import CameraAbsent
from simulator.device.camera import ImageFolderCamera
from simulator.device.faults import FaultInjector
from simulator.device.physical import Item, PhysicalBin


def with_item(category: str, index: int = 0) -> PhysicalBin:
    physical = PhysicalBin(door_open=True)
    physical.place_on_tray(Item(category, 100.0, 0.5, photo_index=index))
    return physical


def make_folder(root: Path) -> Path:
    for category, colour in (("glass", (0, 200, 0)), ("metal", (200, 200, 200))):
        (root / category).mkdir(parents=True)
        for index in range(2):
            shade = tuple(min(255, c + 40 * index) for c in colour)
            PILImage.new("RGB", (32, 24), shade).save(root / category / f"{category}{index}.png")
    return root


def test_photo_follows_category_and_index(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "photos")
    camera = ImageFolderCamera(with_item("glass", 3), images_dir=folder)
    frame = camera.capture(1.0)
    assert frame.shape == (24, 32, 3)
    assert frame.dtype == np.uint8
    assert tuple(frame[0, 0]) == (40, 240, 40)  # index 3 wraps to glass1.png
    assert camera.last_photo == folder / "glass" / "glass1.png"


def test_real_photos_are_served(trashnet_dir: Path) -> None:
    camera = ImageFolderCamera(with_item("cardboard", 0), images_dir=trashnet_dir)
    frame = camera.capture(1.0)
    assert frame.ndim == 3
    assert frame.shape[2] == 3
    assert camera.last_photo is not None
    assert camera.last_photo.parent.name == "cardboard"


def test_empty_tray_and_unknown_category(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = make_folder(tmp_path / "photos")
    empty = ImageFolderCamera(PhysicalBin(), images_dir=folder).capture(1.0)
    assert float(empty.mean()) == pytest.approx(96.0)
    camera = ImageFolderCamera(with_item("plastic"), images_dir=folder)
    with caplog.at_level(logging.WARNING):
        first = camera.capture(1.0)
        camera.capture(1.0)
    assert first.mean() > 20
    assert sum("synthesised" in r.message for r in caplog.records) == 1


def test_faults_reach_the_driver(tmp_path: Path) -> None:
    faults = FaultInjector()
    slept: list[float] = []
    backend = ImageFolderCamera(
        with_item("glass"),
        images_dir=make_folder(tmp_path / "p"),
        faults=faults,
        sleep=slept.append,
    )
    driver = CameraDriver(backend)
    faults.inject(camera="absent")
    with pytest.raises(CameraAbsent):
        backend.open()
    faults.inject(camera="timeout")
    with pytest.raises(Exception, match="timeout"):
        driver.capture(1.5)
    assert slept == [1.5]
    faults.clear()
    assert driver.capture(1.0).shape == (24, 32, 3)
    assert driver.status().health == "ok"
