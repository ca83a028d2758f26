"""Test rigs: a bin's hardware plus, on the simulator, the world behind it.

The driver contract suite runs on every rig. The pin-level simulator is always there;
the real backend runs only on a Raspberry Pi with the reference hardware attached and
``REVLOOP_REAL_HARDWARE=1`` set (``REVLOOP_REAL_CONFIG`` names its configuration file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.clock import SystemClock
from agent.hardware.devices import BinHardware
from agent.hardware.hal.clock import SystemTimingClock, TimingClock
from firmware_config import PROFILES_DIR, load_config
from firmware_config.schema import DeviceConfig
from simulator.device.faults import FaultInjector
from simulator.pins.backend import PinSimulation, build_pin_hardware, physical_from_config

SIM_PROFILE = PROFILES_DIR / "sim-pin.toml"


@dataclass
class Rig:
    """Hardware under test, its timing clock and (simulated rigs only) the simulation."""

    name: str
    hardware: BinHardware
    clock: TimingClock
    config: DeviceConfig
    sim: PinSimulation | None

    def need_sim(self) -> PinSimulation:
        """The simulation, or skip: the test changes the physical world."""
        if self.sim is None:
            pytest.skip("needs the simulated world (cannot move real objects)")
        return self.sim


def sim_config(**overrides: object) -> DeviceConfig:
    """The sim-pin profile with its wall echoes off and faults cleared, adjusted."""
    config = load_config(SIM_PROFILE)
    config.simulation.pins.wall_echo_probability = 0.0
    for dotted, value in overrides.items():
        owner: object = config
        parts = dotted.split("__")
        for part in parts[:-1]:
            owner = getattr(owner, part)
        setattr(owner, parts[-1], value)
    return config


def make_sim_rig(config: DeviceConfig | None = None, *, edge_detection: bool = True) -> Rig:
    """A pin-level simulated bin with no base clock (virtual time moves with the drivers)."""
    config = config or sim_config()
    hardware = build_pin_hardware(
        config,
        None,
        physical_from_config(config),
        FaultInjector(config.simulation.faults),
        edge_detection=edge_detection,
    )
    assert isinstance(hardware.simulation, PinSimulation)
    return Rig("sim-pin", hardware, hardware.simulation.gpio.clock, config, hardware.simulation)


def make_real_rig() -> Rig:
    """The real backend, only where it is asked for."""
    if os.environ.get("REVLOOP_REAL_HARDWARE") != "1":
        pytest.skip("real hardware: set REVLOOP_REAL_HARDWARE=1 on a Pi with the bin attached")
    from agent.hardware.rpi import build_hardware

    path = Path(os.environ.get("REVLOOP_REAL_CONFIG", str(PROFILES_DIR / "rpi4.toml")))
    config = load_config(path)
    return Rig("rpi", build_hardware(config, SystemClock()), SystemTimingClock(), config, None)
