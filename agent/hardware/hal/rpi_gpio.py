"""The real GPIO backend: RPi.GPIO, or rpi-lgpio (the same module name) on a Pi 5.

The module is imported only when the backend is built, so every other part of the
agent runs where it cannot be installed. Every way it fails off a working Pi (not
installed, "This module can only be run on a Raspberry Pi!", no access to /dev/gpiomem,
a pin held by another process) becomes one :class:`HardwareUnavailable` line.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any, cast

from agent.errors import HardwareUnavailable
from agent.hardware.hal.gpio import PUD_OFF, EdgeCallback, Pwm

logger = logging.getLogger(__name__)

FIX = "install the 'pi' extra on a Raspberry Pi (RPi.GPIO), or rpi-lgpio on a Pi 5"


def import_rpi_gpio() -> ModuleType:
    """Import ``RPi.GPIO``; raise HardwareUnavailable with one line if that fails."""
    try:
        return importlib.import_module("RPi.GPIO")
    except (ImportError, RuntimeError) as err:
        raise HardwareUnavailable(f"RPi.GPIO is not available ({_one_line(err)}): {FIX}") from None


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class RpiGpio:
    """:class:`agent.hardware.hal.gpio.Gpio` on the RPi.GPIO module (or its rpi-lgpio stand-in).

    ``importer`` is injectable so tests can exercise the failure paths without a Pi.
    """

    def __init__(self, importer: Callable[[], ModuleType] = import_rpi_gpio) -> None:
        self._gpio: Any = importer()

    def setmode(self, mode: int) -> None:
        """Choose the pin numbering; failures (no /dev/gpiomem, unknown SoC) are one line."""
        try:
            self._gpio.setmode(mode)
        except Exception as err:  # noqa: BLE001 (lgpio.error is a bare Exception)
            raise HardwareUnavailable(
                f"RPi.GPIO cannot drive the pins ({_one_line(err)}): check that this is a "
                "Raspberry Pi and that the user is in the 'gpio' group"
            ) from None

    def setwarnings(self, flag: bool) -> None:
        """Forwarded."""
        self._gpio.setwarnings(flag)

    def setup(
        self, channel: int, direction: int, pull_up_down: int = PUD_OFF, initial: int = -1
    ) -> None:
        """Configure a channel; a busy or forbidden pin becomes one HardwareUnavailable line."""
        try:
            if initial == -1:
                self._gpio.setup(channel, direction, pull_up_down=pull_up_down)
            else:
                self._gpio.setup(channel, direction, pull_up_down=pull_up_down, initial=initial)
        except Exception as err:  # noqa: BLE001 (lgpio.error is a bare Exception)
            raise HardwareUnavailable(
                f"GPIO {channel} cannot be set up ({_one_line(err)}): check that no other "
                "process holds it and that the user is in the 'gpio' group"
            ) from None

    def input(self, channel: int) -> int:
        """Forwarded."""
        return int(self._gpio.input(channel))

    def output(self, channel: int, value: int) -> None:
        """Forwarded."""
        self._gpio.output(channel, value)

    def wait_for_edge(
        self,
        channel: int,
        edge: int,
        bouncetime: int | None = None,
        timeout: int | None = None,
    ) -> int | None:
        """Forwarded (RPi.GPIO takes the timeout in whole milliseconds)."""
        kwargs: dict[str, int] = {}
        if bouncetime is not None:
            kwargs["bouncetime"] = bouncetime
        if timeout is not None:
            kwargs["timeout"] = max(1, int(timeout))
        result = self._gpio.wait_for_edge(channel, edge, **kwargs)
        return None if result is None else int(result)

    def add_event_detect(
        self,
        channel: int,
        edge: int,
        callback: EdgeCallback | None = None,
        bouncetime: int | None = None,
    ) -> None:
        """Forwarded; RPi.GPIO 0.7.1 raises RuntimeError here on kernel 6.6 (drivers poll)."""
        kwargs: dict[str, Any] = {}
        if callback is not None:
            kwargs["callback"] = callback
        if bouncetime is not None:
            kwargs["bouncetime"] = bouncetime
        self._gpio.add_event_detect(channel, edge, **kwargs)

    def remove_event_detect(self, channel: int) -> None:
        """Forwarded."""
        self._gpio.remove_event_detect(channel)

    def event_detected(self, channel: int) -> bool:
        """Forwarded."""
        return bool(self._gpio.event_detected(channel))

    def PWM(self, channel: int, frequency: float) -> Pwm:
        """Forwarded: RPi.GPIO's PWM object has the :class:`Pwm` methods."""
        return cast(Pwm, self._gpio.PWM(channel, frequency))

    def cleanup(self, channel: int | None = None) -> None:
        """Forwarded; never raises (it runs on the way out)."""
        try:
            if channel is None:
                self._gpio.cleanup()
            else:
                self._gpio.cleanup(channel)
        except Exception as err:  # noqa: BLE001 (cleanup must not mask the real error)
            logger.warning("GPIO cleanup failed: %s", err)
