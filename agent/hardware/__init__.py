"""Choosing the hardware backend named in the configuration.

Backends register under the ``revloop.hardware`` entry-point group, so the agent can run
on the simulator's hardware without depending on the simulator package:
``rpi`` (real pins, :mod:`agent.hardware.rpi`), ``sim-pin`` and ``sim-device`` (the
simulator's). A production bin whose backend is missing fails loudly; it never falls
back to a simulator.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol

from agent.clock import Clock
from agent.errors import HardwareUnavailable
from agent.hardware.devices import BinHardware
from firmware_config.schema import DeviceConfig

ENTRY_POINT_GROUP = "revloop.hardware"


class HardwareFactory(Protocol):
    """Builds a bin's devices from its configuration, on the given clock."""

    def __call__(self, config: DeviceConfig, clock: Clock) -> BinHardware: ...


def hardware_backends() -> dict[str, HardwareFactory]:
    """The installed backends by name."""
    found: dict[str, HardwareFactory] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name] = entry.load()
    return found


def build_hardware(config: DeviceConfig, clock: Clock) -> BinHardware:
    """Build the hardware named by ``hardware.backend``; raise HardwareUnavailable if absent."""
    name = config.hardware.backend
    matches = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == name]
    if not matches:
        raise HardwareUnavailable(
            f"hardware.backend = {name!r} is not installed "
            f"(installed: {', '.join(sorted(hardware_backends())) or 'none'})"
        )
    factory: HardwareFactory = matches[0].load()
    return factory(config, clock)
