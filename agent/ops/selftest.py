"""The bin's self-test: exercise every device once and say how each did.

Used by ``bin-agent selftest`` on site and by the remote ``selftest`` command. It moves
the actuators (flap cycle, lock and unlock, each LED, a beep), so it is run by a
technician or on request, never by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from agent.hardware.devices import BinHardware, Device, DeviceError, DeviceStatus

logger = logging.getLogger(__name__)

Verdict = Literal["pass", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the self-test."""

    name: str
    component: str
    verdict: Verdict
    detail: str


_VERDICTS: dict[str, Verdict] = {"ok": "pass", "degraded": "warn", "failed": "fail"}


def _verdict(status: DeviceStatus) -> Verdict:
    return _VERDICTS[status.health]


def _status_detail(measured: str, status: DeviceStatus) -> str:
    if status.health == "ok":
        return measured
    return (
        f"{measured}; {status.code}: {status.detail}"
        if measured
        else f"{status.code}: {status.detail}"
    )


def run_selftest(hardware: BinHardware, *, camera_timeout_s: float = 1.0) -> list[CheckResult]:
    """Exercise every device; a device that raises fails its line, the rest still run."""
    temp: list[float | None] = [None]

    def fill() -> str:
        reading = hardware.fill.measure(temp[0])
        return (
            f"{reading.distance_mm:.0f} mm, {reading.fill_pct:.1f} % full, "
            f"{reading.valid_pings}/{reading.total_pings} pings"
        )

    def temperature() -> str:
        temp[0] = hardware.temperature.read_c()
        return "no probe" if temp[0] is None else f"{temp[0]:.1f} degC"

    def scale() -> str:
        return f"{hardware.scale.read_g():.1f} g on the tray"

    def door() -> str:
        return "open" if hardware.door.is_open() else "closed"

    def beam() -> str:
        return "broken" if hardware.beam.is_broken() else "clear"

    def camera() -> str:
        frame = hardware.camera.capture(camera_timeout_s)
        return f"{frame.shape[1]}x{frame.shape[0]}, mean brightness {frame.mean():.0f}"

    def flap() -> str:
        hardware.flap.drop()
        return "cycled"

    def lock() -> str:
        was = hardware.lock.locked
        hardware.lock.set_locked(not was)
        hardware.lock.set_locked(was)
        return f"toggled, left {'locked' if was else 'unlocked'}"

    def indicators() -> str:
        for colour in ("green", "amber", "red"):
            hardware.indicators.show(colour)
        hardware.indicators.show(None)
        hardware.indicators.beep(0.1)
        return "LEDs cycled, beeped"

    checks: list[tuple[str, Device, Callable[[], str]]] = [
        ("temperature", hardware.temperature, temperature),
        ("fill", hardware.fill, fill),
        ("scale", hardware.scale, scale),
        ("door", hardware.door, door),
        ("beam", hardware.beam, beam),
        ("camera", hardware.camera, camera),
        ("flap", hardware.flap, flap),
        ("lock", hardware.lock, lock),
        ("indicators", hardware.indicators, indicators),
    ]
    results = []
    for name, device, check in checks:
        try:
            measured = check()
        except DeviceError as err:
            results.append(CheckResult(name, device.component, "fail", f"{err.code}: {err.detail}"))
            continue
        except (RuntimeError, OSError, ValueError) as err:
            logger.exception("self-test of %s crashed", name)
            results.append(CheckResult(name, device.component, "fail", f"error: {err}"))
            continue
        status = device.status()
        results.append(
            CheckResult(name, device.component, _verdict(status), _status_detail(measured, status))
        )
    return results
