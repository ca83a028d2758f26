"""What a device model wired to simulated pins can do.

A model drives some input pins (the level the Pi reads), listens to some output pins
(levels and PWM the Pi writes) and may have timed behaviour of its own (a conversion
finishing, an echo falling, a flap reaching its open position). The simulator asks each
model when it next changes, so time can jump from event to event.
"""

from __future__ import annotations


class PinModel:
    """Base of device models; every hook does nothing unless overridden."""

    driven: tuple[int, ...] = ()
    """BCM pins whose input level this model sets."""
    listens: tuple[int, ...] = ()
    """BCM output pins whose changes this model receives."""

    def observe(self, now_ns: int) -> None:
        """Look at the physical world (called at every simulated instant that matters)."""

    def advance(self, now_ns: int) -> None:
        """Time has reached ``now_ns``: carry out what was due."""

    def next_event_ns(self, now_ns: int) -> int | None:
        """The next time after ``now_ns`` at which this model changes by itself."""
        return None

    def level(self, pin: int, now_ns: int) -> int | None:
        """The level this model puts on ``pin`` (None: not driven, the pull decides)."""
        return None

    def on_output(self, pin: int, level: int, now_ns: int) -> None:
        """The Pi drove ``pin`` to ``level``."""

    def on_pwm(self, pin: int, frequency: float, duty: float, now_ns: int) -> None:
        """The Pi changed the PWM on ``pin`` (duty 0 means no pulses)."""
