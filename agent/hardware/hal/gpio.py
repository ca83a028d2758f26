"""The GPIO interface the drivers use: the RPi.GPIO subset, with its constants.

Drivers are written against :class:`Gpio` only. The real backend
(:mod:`agent.hardware.hal.rpi_gpio`) forwards to RPi.GPIO or rpi-lgpio; the pin-level simulator
(:mod:`simulator.pins.gpio`) implements the same calls on a virtual clock. The constant
values are RPi.GPIO's own, so a driver may pass them to either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

BOARD = 10
BCM = 11
OUT = 0
IN = 1
LOW = 0
HIGH = 1
PUD_OFF = 20
PUD_DOWN = 21
PUD_UP = 22
RISING = 31
FALLING = 32
BOTH = 33

EdgeCallback = Callable[[int], None]
"""Called with the channel number when an edge is detected."""


class Pwm(Protocol):
    """A software PWM channel, as returned by ``GPIO.PWM(channel, frequency)``."""

    def start(self, dutycycle: float) -> None:
        """Start with a duty cycle in percent (0 to 100)."""
        ...

    def ChangeDutyCycle(self, dutycycle: float) -> None:
        """Change the duty cycle, in percent."""
        ...

    def ChangeFrequency(self, frequency: float) -> None:
        """Change the frequency, in hertz."""
        ...

    def stop(self) -> None:
        """Stop the output."""
        ...


class Gpio(Protocol):
    """The RPi.GPIO calls the drivers make; channel numbers follow ``setmode``."""

    def setmode(self, mode: int) -> None:
        """Choose BCM or BOARD numbering (once, before any setup)."""
        ...

    def setwarnings(self, flag: bool) -> None:
        """Silence RPi.GPIO's channel-in-use warnings."""
        ...

    def setup(
        self, channel: int, direction: int, pull_up_down: int = PUD_OFF, initial: int = -1
    ) -> None:
        """Configure a channel as input (with a pull) or output (with an initial level)."""
        ...

    def input(self, channel: int) -> int:
        """Read a channel's level (0 or 1)."""
        ...

    def output(self, channel: int, value: int) -> None:
        """Drive an output channel low (0) or high (1)."""
        ...

    def wait_for_edge(
        self,
        channel: int,
        edge: int,
        bouncetime: int | None = None,
        timeout: int | None = None,
    ) -> int | None:
        """Block until an edge or ``timeout`` milliseconds; the channel, or None on timeout."""
        ...

    def add_event_detect(
        self,
        channel: int,
        edge: int,
        callback: EdgeCallback | None = None,
        bouncetime: int | None = None,
    ) -> None:
        """Watch a channel for edges in the background; raises RuntimeError where unsupported."""
        ...

    def remove_event_detect(self, channel: int) -> None:
        """Stop watching a channel."""
        ...

    def event_detected(self, channel: int) -> bool:
        """Whether an edge was seen since the last call (then clears the flag)."""
        ...

    def PWM(self, channel: int, frequency: float) -> Pwm:
        """A software PWM on an output channel."""
        ...

    def cleanup(self, channel: int | None = None) -> None:
        """Return one channel (or every channel used) to an input."""
        ...
