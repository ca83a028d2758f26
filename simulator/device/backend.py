"""The ``sim-device`` hardware backend: one simulated bin with visitors, for ``bin-agent run``.

The fleet simulator builds device-level hardware itself (many bins, one clock); this entry
point is for running a single simulated bin as if it were real: the agent polls its
devices on the system clock while visitors come and go on a thread of their own.
"""

from __future__ import annotations

from agent.clock import Clock
from agent.hardware.devices import BinHardware
from firmware_config.schema import DeviceConfig
from simulator.device.hardware import build_device_hardware
from simulator.device.physical import PhysicalBin
from simulator.world.visitors import StandaloneWorld


def build_hardware(config: DeviceConfig, clock: Clock) -> BinHardware:
    """Entry point ``sim-device``: devices over a fresh physical bin, visitors attached."""
    physical = PhysicalBin(
        container_depth_mm=config.calibration.empty_distance_mm,
        container_volume_l=config.simulation.container_volume_l,
    )
    hardware = build_device_hardware(config, clock, physical)
    hardware.simulation = physical
    hardware.world = StandaloneWorld(
        physical,
        clock,
        seed=config.simulation.seed,
        peak_per_hour=config.simulation.deposits_per_hour,
        rhythm=config.simulation.daily_rhythm,
    )
    return hardware
