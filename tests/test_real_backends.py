"""The real backends off a Pi: one clear line, no traceback; their logic on stand-ins."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from agent.cli.main import cli
from agent.clock import SystemClock
from agent.errors import HardwareUnavailable
from agent.hardware import build_hardware as build_configured
from agent.hardware.hal.camera import CameraAbsent, Picamera2Backend, import_picamera2
from agent.hardware.hal.rpi_gpio import RpiGpio, import_rpi_gpio
from agent.hardware.rpi import build_hardware
from firmware_config import PROFILES_DIR, load_config

RPI_PROFILE = PROFILES_DIR / "rpi4.toml"


def _is_pi() -> bool:
    model = Path("/proc/device-tree/model")
    return model.exists() and "Raspberry Pi" in model.read_text(errors="replace")


pytestmark = pytest.mark.skipif(_is_pi(), reason="these check the behaviour off a Raspberry Pi")


def test_rpi_gpio_import_fails_with_one_line_naming_the_library() -> None:
    with pytest.raises(HardwareUnavailable) as caught:
        import_rpi_gpio()
    message = str(caught.value)
    assert message.startswith("RPi.GPIO is not available (")
    assert "rpi-lgpio" in message
    assert "\n" not in message


def test_not_a_raspberry_pi_runtime_error_becomes_the_same_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "RPi"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "GPIO.py").write_text(
        'raise RuntimeError("This module can only be run on a Raspberry Pi!")\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("RPi", "RPi.GPIO"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    try:
        with pytest.raises(HardwareUnavailable) as caught:
            RpiGpio()
    finally:
        for name in ("RPi", "RPi.GPIO"):
            sys.modules.pop(name, None)
    assert str(caught.value).startswith(
        "RPi.GPIO is not available (This module can only be run on a Raspberry Pi!): "
    )


class FakeGpioModule(types.ModuleType):
    """An RPi.GPIO stand-in whose setmode/setup fail as lgpio does with a busy pin."""

    def __init__(self) -> None:
        super().__init__("RPi.GPIO")

    def setmode(self, mode: int) -> None:
        raise OSError("Cannot determine SOC peripheral base address")

    def setup(self, channel: int, direction: int, **kwargs: Any) -> None:
        raise Exception("GPIO busy")  # lgpio.error is a bare Exception subclass


def test_setmode_and_setup_failures_become_one_line() -> None:
    gpio = RpiGpio(FakeGpioModule)
    with pytest.raises(HardwareUnavailable, match="SOC peripheral base address"):
        gpio.setmode(11)
    with pytest.raises(HardwareUnavailable, match=r"GPIO 5 cannot be set up \(GPIO busy\)"):
        gpio.setup(5, 1)


def test_picamera2_import_fails_with_one_line() -> None:
    with pytest.raises(HardwareUnavailable) as caught:
        import_picamera2()
    assert str(caught.value).startswith("picamera2 is not available (")
    assert "python3-picamera2" in str(caught.value)


class FakePicamera2:
    """The slice of picamera2 the backend uses."""

    cameras: list[dict[str, str]] = [{"Model": "imx708"}]
    frame = np.zeros((2, 2, 3), dtype=np.uint8)
    never_ready = False

    def __init__(self, camera_num: int) -> None:
        self.started = False
        self.closed = False

    @classmethod
    def global_camera_info(cls) -> list[dict[str, str]]:
        return cls.cameras

    def create_still_configuration(self, main: dict[str, str]) -> dict[str, Any]:
        assert main == {"format": "RGB888"}
        return {"main": main}

    def configure(self, config: dict[str, Any]) -> None:
        pass

    def start(self) -> None:
        self.started = True

    def capture_array(self, name: str, wait: bool) -> str:
        assert wait is False
        return "job"

    def wait(self, job: str, timeout: float) -> np.ndarray[Any, Any]:
        if self.never_ready:
            raise TimeoutError
        return self.frame

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


def fake_picamera2() -> types.ModuleType:
    module = types.ModuleType("picamera2")
    module.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    return module


def test_picamera2_frames_are_turned_into_rgb(monkeypatch: pytest.MonkeyPatch) -> None:
    bgr = np.zeros((2, 2, 3), dtype=np.uint8)
    bgr[..., 0] = 10  # blue
    bgr[..., 2] = 200  # red
    monkeypatch.setattr(FakePicamera2, "frame", bgr)
    backend = Picamera2Backend(0, fake_picamera2)
    frame = backend.capture(1.0)
    assert tuple(frame[0, 0]) == (200, 0, 10)
    backend.close()


def test_picamera2_absent_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakePicamera2, "cameras", [])
    with pytest.raises(CameraAbsent, match="no camera detected"):
        Picamera2Backend(0, fake_picamera2).open()
    monkeypatch.setattr(FakePicamera2, "cameras", [{"Model": "imx708"}])
    monkeypatch.setattr(FakePicamera2, "never_ready", True)
    with pytest.raises(TimeoutError, match=r"no frame within 0\.5 s"):
        Picamera2Backend(0, fake_picamera2).capture(0.5)


def test_rpi_backend_off_a_pi_names_the_missing_library() -> None:
    config = load_config(RPI_PROFILE)
    with pytest.raises(HardwareUnavailable, match=r"RPi\.GPIO is not available"):
        build_hardware(config, SystemClock())
    with pytest.raises(HardwareUnavailable, match=r"RPi\.GPIO is not available"):
        build_configured(config, SystemClock())  # through the entry point


@pytest.mark.parametrize(
    "args",
    [["selftest"], ["calibrate", "tare", "--yes"], ["calibrate", "empty-depth", "--yes"]],
)
def test_cli_off_a_pi_prints_one_line_and_exits_1(args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--config", str(RPI_PROFILE)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: RPi.GPIO is not available (No module named 'RPi'): install the 'pi' extra "
        "on a Raspberry Pi (RPi.GPIO), or rpi-lgpio on a Pi 5"
    ]
    assert "Traceback" not in result.output
