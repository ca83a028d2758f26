"""The physical state of one simulated bin: what its sensors observe and its actuators move.

Both simulation depths read the same object: the device-level simulator turns it into
readings directly, the pin-level simulator turns it into pin waveforms (HX711 bits,
echo widths, switch levels). The world model (consumers, crews) changes it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Item:
    """One deposited object: its true material, mass and bulk volume."""

    category: str
    mass_g: float
    volume_l: float
    photo_index: int = 0
    """Which photo of its category the simulated camera shows (modulo their number)."""


@dataclass
class PhysicalBin:
    """Everything physical about one bin, guarded by a lock (MQTT and sim threads read it).

    Lengths are in millimetres from the fill sensor in the lid; the container floor is
    ``container_depth_mm`` below it.
    """

    container_depth_mm: float = 1000.0
    container_volume_l: float = 240.0
    contents_volume_l: float = 0.0
    contents_mass_g: float = 0.0
    contents: list[Item] = field(default_factory=list)
    tray: Item | None = None
    door_open: bool = False
    door_locked: bool = False
    hand_in_chamber: bool = False
    air_temp_c: float = 18.0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def tray_mass_g(self) -> float:
        """Mass on the tray (0 when empty)."""
        return self.tray.mass_g if self.tray else 0.0

    @property
    def beam_broken(self) -> bool:
        """The IR beam is broken by a hand or by an item on the tray."""
        return self.hand_in_chamber or self.tray is not None

    @property
    def fill_fraction(self) -> float:
        """Contents volume over usable volume, 0 to 1 (more when overstuffed)."""
        return self.contents_volume_l / self.container_volume_l

    @property
    def surface_distance_mm(self) -> float:
        """Distance from the lid sensor down to the top of the contents (the echo path)."""
        level = min(self.fill_fraction, 1.0) * self.container_depth_mm
        return max(self.container_depth_mm - level, 0.0)

    def place_on_tray(self, item: Item) -> None:
        """A consumer puts an item on the tray (only possible with the door open)."""
        with self.lock:
            if not self.door_open:
                raise RuntimeError("the intake door is closed")
            self.tray = item

    def take_from_tray(self) -> Item | None:
        """A consumer takes back a rejected item."""
        with self.lock:
            item, self.tray = self.tray, None
            return item

    def drop_tray_into_container(self) -> Item | None:
        """The flap drops whatever is on the tray into the container."""
        with self.lock:
            item, self.tray = self.tray, None
            if item is not None:
                self.contents.append(item)
                self.contents_volume_l += item.volume_l
                self.contents_mass_g += item.mass_g
            return item

    def empty(self) -> list[Item]:
        """A crew empties the container; returns what was in it."""
        with self.lock:
            taken, self.contents = self.contents, []
            self.contents_volume_l = 0.0
            self.contents_mass_g = 0.0
            return taken
