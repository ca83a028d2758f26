"""The 1-wire bus interface and its real backend, the kernel's w1 sysfs tree.

The DS18B20 driver (:class:`agent.hardware.drivers.temperature.Ds18b20`) is written against
:class:`W1Bus`; on a Pi it reads :class:`SysfsW1Bus`, and the pin-level simulator
supplies its own (:class:`simulator.pins.onewire.SimW1Bus`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class W1Bus(Protocol):
    """The 1-wire bus as sysfs shows it: probe ids and their ``w1_slave`` text."""

    def probes(self) -> list[str]:
        """Ids of the DS18B20 probes present (family 28)."""
        ...

    def read(self, probe: str) -> str:
        """The ``w1_slave`` text of a probe (blocks for the conversion)."""
        ...


class SysfsW1Bus:
    """The kernel's w1 sysfs tree (``dtoverlay=w1-gpio`` on a Pi)."""

    def __init__(self, devices_dir: Path) -> None:
        self._dir = devices_dir

    def probes(self) -> list[str]:
        """Directories named ``28-*``."""
        try:
            return sorted(p.name for p in self._dir.glob("28-*") if p.is_dir())
        except OSError:
            return []

    def read(self, probe: str) -> str:
        """Read ``<dir>/<probe>/w1_slave``."""
        return (self._dir / probe / "w1_slave").read_text(encoding="ascii", errors="replace")
