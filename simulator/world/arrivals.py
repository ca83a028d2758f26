"""The world around a bin: who comes to it, when, and with what.

Deposits arrive as a non-homogeneous Poisson process whose rate follows the hour of
the day and the day of the week (busy at lunchtime and early evening, quiet at night,
busier at weekends). Each visitor brings one to three items; each item's mass and bulk
volume are drawn per material from log-normal distributions. A collection crew empties
the container, which is what a pickup is for.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator.device.physical import Item

# Relative deposit rate per hour of the day (local time), peak = 1.0.
HOURLY_PROFILE: tuple[float, ...] = (
    0.02, 0.01, 0.01, 0.01, 0.02, 0.05, 0.15, 0.35, 0.45, 0.50, 0.60, 0.80,
    1.00, 0.90, 0.65, 0.60, 0.70, 0.90, 1.00, 0.85, 0.60, 0.35, 0.15, 0.05,
)  # fmt: skip
# Relative rate per weekday, Monday first.
WEEKDAY_PROFILE: tuple[float, ...] = (0.85, 0.8, 0.85, 0.9, 1.0, 1.3, 1.1)


@dataclass(frozen=True, slots=True)
class Material:
    """How items of one category weigh and bulk, and how often they come."""

    share: float
    """Fraction of all deposits."""
    median_mass_g: float
    median_volume_l: float
    spread: float = 0.45
    """Log-normal sigma for mass and volume."""


MATERIALS: dict[str, Material] = {
    "plastic": Material(0.30, 35.0, 1.1),
    "paper": Material(0.20, 90.0, 0.8),
    "metal": Material(0.17, 25.0, 0.45),
    "glass": Material(0.15, 330.0, 0.7),
    "cardboard": Material(0.13, 160.0, 2.4),
    "trash": Material(0.05, 120.0, 1.0),
}


class ItemCatalog:
    """Draws items with a realistic material mix, masses and volumes."""

    def __init__(self, rng: random.Random, materials: dict[str, Material] | None = None) -> None:
        self.rng = rng
        self.materials = materials or MATERIALS
        self._names = list(self.materials)
        self._weights = [m.share for m in self.materials.values()]

    def draw(self) -> Item:
        """One item."""
        category = self.rng.choices(self._names, self._weights)[0]
        material = self.materials[category]
        mass = material.median_mass_g * math.exp(self.rng.gauss(0, material.spread))
        volume = material.median_volume_l * math.exp(self.rng.gauss(0, material.spread))
        return Item(
            category=category,
            mass_g=round(mass, 1),
            volume_l=round(volume, 3),
            photo_index=self.rng.randrange(1_000_000),
        )


class ArrivalProcess:
    """When visitors come: a Poisson process with a daily and weekly rhythm.

    ``peak_per_hour`` is the rate at the busiest hour of an ordinary Friday; each bin
    also gets its own popularity factor so a fleet fills at different speeds.
    """

    def __init__(
        self,
        rng: random.Random,
        peak_per_hour: float,
        popularity: float = 1.0,
        *,
        rhythm: bool = True,
    ) -> None:
        self.rng = rng
        self.rhythm = rhythm
        self.peak_per_hour = peak_per_hour * popularity
        self._max_rate = self.peak_per_hour * max(WEEKDAY_PROFILE) / 3600.0

    def rate_at(self, when: datetime) -> float:
        """Visitors per second at ``when``."""
        if not self.rhythm:
            return self.peak_per_hour / 3600.0
        hour = HOURLY_PROFILE[when.hour]
        day = WEEKDAY_PROFILE[when.weekday()]
        return self.peak_per_hour * hour * day / 3600.0

    def next_after(self, when: datetime) -> float:
        """Seconds from ``when`` to the next visitor (Lewis-Shedler thinning)."""
        if self._max_rate <= 0:
            return math.inf
        elapsed = 0.0
        while True:
            elapsed += self.rng.expovariate(self._max_rate)
            candidate = when + timedelta(seconds=elapsed)
            if self.rng.random() * self._max_rate <= self.rate_at(candidate):
                return elapsed
            if elapsed > 30 * 86_400:
                return math.inf

    def items_per_visit(self) -> int:
        """Most people bring one item, some two or three."""
        return self.rng.choices((1, 2, 3), (0.6, 0.28, 0.12))[0]
