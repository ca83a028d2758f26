"""Building real agents on simulated devices for tests."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from agent.app import Agent
from agent.clock import Clock, SystemClock
from agent.hardware.devices import Camera
from agent.intake import DepositClassifier
from firmware_config import DeviceConfig, parse_config
from protocol.transport import BrokerUrl
from simulator.device.faults import FaultInjector
from simulator.device.hardware import build_device_hardware
from simulator.device.physical import PhysicalBin
from tests.support.fakes import GreyCamera


def bin_config(tmp_path: Path, bin_id: str = "bin-001", **sections: str) -> DeviceConfig:
    """A device-level configuration whose database lives in ``tmp_path``."""
    extra = "\n".join(f"[{name}]\n{body}" for name, body in sections.items())
    text = f"""
[identity]
bin_id = "{bin_id}"
region = "north"
location = {{ lat = 52.5, lon = 13.4 }}
[hardware]
backend = "sim-device"
[broker]
backoff_min_s = 0.1
backoff_max_s = 1.0
[storage]
path = "{tmp_path / (bin_id + ".db")}"
{extra}
"""
    return parse_config(text)


@dataclass
class SimulatedBin:
    """An agent with its physical bin, to drive and to assert on."""

    agent: Agent
    physical: PhysicalBin
    faults: FaultInjector


def make_bin(
    config: DeviceConfig,
    port: int,
    *,
    clock: Clock | None = None,
    seed: int = 1,
    camera: Camera | None = None,
    classifier: DepositClassifier | None = None,
    physical: PhysicalBin | None = None,
    faults: FaultInjector | None = None,
) -> SimulatedBin:
    """A real agent on device-level simulated hardware, pointed at a local broker.

    Pass the ``physical`` bin and ``faults`` of an earlier agent to restart it.
    """
    clock = clock or SystemClock(synced=True)
    physical = physical or PhysicalBin(container_depth_mm=config.calibration.empty_distance_mm)
    faults = faults or FaultInjector()
    hardware = build_device_hardware(
        config, clock, physical, camera or GreyCamera(), rng=random.Random(seed), faults=faults
    )
    agent = Agent.build(
        config,
        hardware,
        clock,
        endpoint=BrokerUrl("127.0.0.1", port, False),
        rng=random.Random(seed),
        classifier=classifier,
    )
    return SimulatedBin(agent, physical, faults)
