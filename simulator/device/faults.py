"""Fault injection for the simulated hardware, changed live by tests and world models.

Every simulated device model reads its fault from one shared :class:`FaultInjector`
at the moment it acts, so injecting or clearing a fault takes effect at the next ping,
conversion, capture or drop. A profile's ``[simulation.faults]`` sets the faults at start.
"""

from __future__ import annotations

import threading
from typing import Any

from firmware_config.schema import SimulationFaults


class FaultInjector:
    """The faults currently injected; values are validated against the schema."""

    def __init__(self, initial: SimulationFaults | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = (initial or SimulationFaults()).model_copy()

    @property
    def current(self) -> SimulationFaults:
        """A snapshot of the faults in force."""
        with self._lock:
            return self._faults.model_copy()

    def inject(self, **faults: Any) -> None:
        """Set some faults, e.g. ``inject(hx711="stuck_high")``; unknown names or values
        raise a ValueError naming them and change nothing."""
        with self._lock:
            merged = {**self._faults.model_dump(), **faults}
            self._faults = SimulationFaults.model_validate(merged)

    def clear(self, *names: str) -> None:
        """Clear the named faults (all of them when none are named)."""
        defaults = SimulationFaults()
        with self._lock:
            if not names:
                self._faults = defaults
                return
            unknown = [name for name in names if name not in SimulationFaults.model_fields]
            if unknown:
                raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
            merged = self._faults.model_dump()
            for name in names:
                merged[name] = getattr(defaults, name)
            self._faults = SimulationFaults.model_validate(merged)

    @property
    def hx711(self) -> str:
        """HX711 fault in force."""
        return self._faults.hx711

    @property
    def ultrasonic(self) -> str:
        """Ultrasonic fault in force."""
        return self._faults.ultrasonic

    @property
    def camera(self) -> str:
        """Camera fault in force."""
        return self._faults.camera

    @property
    def flap(self) -> str:
        """Flap fault in force."""
        return self._faults.flap

    @property
    def door(self) -> str:
        """Door fault in force."""
        return self._faults.door

    @property
    def temperature(self) -> str:
        """Temperature probe fault in force."""
        return self._faults.temperature

    @property
    def gpio_stall_probability(self) -> float:
        """Chance that a GPIO call is pre-empted."""
        return self._faults.gpio_stall_probability

    @property
    def gpio_stall_us(self) -> float:
        """Length of a pre-empted GPIO call."""
        return self._faults.gpio_stall_us
