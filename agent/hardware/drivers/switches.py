"""The door switch and the IR break-beam: debounced inputs, edge-driven where possible.

With edge detection the driver notes the time of every edge (contacts bounce for a few
milliseconds) and trusts a level only once no edge has come for the debounce time. Where
edge detection fails (RPi.GPIO 0.7.1 on kernel 6.6: "Failed to add edge detection") it
falls back to sampling the pin across the debounce time; either way a read is bounded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.hardware.devices import DeviceStatus
from agent.hardware.drivers.health import Health
from agent.hardware.hal.clock import TimingClock
from agent.hardware.hal.gpio import BOTH, IN, PUD_UP, Gpio

logger = logging.getLogger(__name__)

POLL_SAMPLES = 4
MAX_SETTLE_DEBOUNCES = 5


class DebouncedInput:
    """One input pin whose level is trusted after it has been stable ``debounce_ms``."""

    def __init__(
        self,
        gpio: Gpio,
        clock: TimingClock,
        pin: int,
        *,
        debounce_ms: int,
        pull: int = PUD_UP,
        name: str = "input",
    ) -> None:
        self._gpio = gpio
        self._clock = clock
        self._pin = pin
        self._debounce_ns = debounce_ms * 1_000_000
        self._lock = threading.Lock()
        self._last_edge_ns: int | None = None
        self.edges = 0
        self._listeners: list[Callable[[], None]] = []
        gpio.setup(pin, IN, pull_up_down=pull)
        try:
            gpio.add_event_detect(pin, BOTH, callback=self._on_edge)
            self.edge_driven = True
        except RuntimeError as err:
            logger.warning("%s on GPIO %d: no edge detection (%s); polling", name, pin, err)
            self.edge_driven = False
        self._stable = gpio.input(pin)
        self._stable_since_ns = clock.monotonic_ns()

    def _on_edge(self, channel: int) -> None:
        now = self._clock.monotonic_ns()
        with self._lock:
            self._last_edge_ns = now
            self.edges += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def add_edge_listener(self, listener: Callable[[], None]) -> bool:
        """Call ``listener`` (on the GPIO thread: it must not block) at every edge, so
        the agent wakes at once instead of at its next poll; False when the pin is
        polled (no edges to report)."""
        with self._lock:
            self._listeners.append(listener)
        return self.edge_driven

    def level(self) -> int:
        """The debounced level (0 or 1) now.

        In the middle of a bounce it waits (a few debounce times at most) for the
        contact to settle, so a caller never gets a level from before a change it could
        have seen; if the line keeps bouncing it returns the last trusted level.
        """
        if not self.edge_driven:
            return self._polled_level()
        deadline: int | None = None
        while True:
            raw = self._gpio.input(self._pin)  # on the simulator this delivers due edges
            now = self._clock.monotonic_ns()
            with self._lock:
                quiet_at = (
                    now if self._last_edge_ns is None else self._last_edge_ns + self._debounce_ns
                )
                if now >= quiet_at:
                    if raw != self._stable:
                        self._stable = raw
                        self._stable_since_ns = now
                    return self._stable
                if deadline is None:
                    deadline = now + MAX_SETTLE_DEBOUNCES * self._debounce_ns
                elif now >= deadline:
                    return self._stable
            self._clock.sleep(min(quiet_at, deadline) / 1e9 - now / 1e9)

    def stable_for_ns(self) -> int:
        """How long the debounced level has held."""
        now = self._clock.monotonic_ns()
        with self._lock:
            return now - self._stable_since_ns

    def close(self) -> None:
        """Stop watching the pin."""
        if self.edge_driven:
            self._gpio.remove_event_detect(self._pin)
            self.edge_driven = False

    def _polled_level(self) -> int:
        raw = self._gpio.input(self._pin)
        if raw == self._stable:
            return raw
        step = self._debounce_ns / POLL_SAMPLES / 1e9
        for _ in range(POLL_SAMPLES):
            self._clock.sleep(step)
            if self._gpio.input(self._pin) != raw:
                return self._stable  # still bouncing: keep the last trusted level
        with self._lock:
            self._stable = raw
            self._stable_since_ns = self._clock.monotonic_ns()
        return raw


class DoorSwitchDriver:
    """:class:`agent.hardware.devices.DoorSwitch`: a reed switch to ground, high when open.

    A door open longer than ``open_alarm_s`` is ``degraded`` with code ``left_open``.
    """

    component = "door"

    def __init__(
        self,
        gpio: Gpio,
        clock: TimingClock,
        pin: int,
        *,
        debounce_ms: int,
        open_alarm_s: float,
    ) -> None:
        self._input = DebouncedInput(gpio, clock, pin, debounce_ms=debounce_ms, name="door")
        self._open_alarm_ns = round(open_alarm_s * 1e9)
        self._health = Health(self.component)

    @property
    def edge_driven(self) -> bool:
        """Whether edges are detected (else the pin is polled)."""
        return self._input.edge_driven

    def add_edge_listener(self, listener: Callable[[], None]) -> bool:
        """Wake ``listener`` at every edge of the input; False when it is polled."""
        return self._input.add_edge_listener(listener)

    def is_open(self) -> bool:
        """Whether the door is open (debounced)."""
        is_open = self._input.level() == 1
        held = self._input.stable_for_ns()
        if is_open and held >= self._open_alarm_ns:
            self._health.set("degraded", "left_open", f"door open for {held / 1e9:.0f} s")
        else:
            self._health.ok()
        return is_open

    def status(self) -> DeviceStatus:
        """Re-reads the switch, so a door left open shows even when nobody asks."""
        self.is_open()
        return self._health.status()

    def close(self) -> None:
        """Stop watching the pin."""
        self._input.close()


class BeamDriver:
    """:class:`agent.hardware.devices.Beam`: an IR receiver with an open-collector output, low when
    the beam is broken."""

    component = "door"

    def __init__(self, gpio: Gpio, clock: TimingClock, pin: int, *, debounce_ms: int) -> None:
        self._input = DebouncedInput(gpio, clock, pin, debounce_ms=debounce_ms, name="beam")
        self._health = Health(self.component)

    @property
    def edge_driven(self) -> bool:
        """Whether edges are detected (else the pin is polled)."""
        return self._input.edge_driven

    def add_edge_listener(self, listener: Callable[[], None]) -> bool:
        """Wake ``listener`` at every edge of the input; False when it is polled."""
        return self._input.add_edge_listener(listener)

    def is_broken(self) -> bool:
        """Whether something interrupts the beam (debounced)."""
        return self._input.level() == 0

    def status(self) -> DeviceStatus:
        """The beam has no self-check beyond the pin being readable."""
        return self._health.status()

    def close(self) -> None:
        """Stop watching the pin."""
        self._input.close()
