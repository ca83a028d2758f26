"""Benchmark: one weight reading and one fill reading on the pin-level simulator.

For each, the virtual time (what the bin itself would spend: HX711 conversions, pings
60 ms apart) and the wall time (what simulating every pin edge costs on this machine).
Run: ``.venv/bin/python bench/pin_drivers.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from firmware_config import load_config
from firmware_config.schema import DeviceConfig
from simulator.pins.backend import PinSimulation, build_pin_hardware, physical_from_config

PROFILE = Path(__file__).resolve().parents[1] / "firmware_config" / "profiles" / "sim-pin.toml"


def measure(config: DeviceConfig, action: str, repeat: int) -> tuple[float, float, float]:
    """Median virtual ms, median wall ms and max wall ms of ``repeat`` readings."""
    hardware = build_pin_hardware(config, None, physical_from_config(config))
    sim = hardware.simulation
    assert isinstance(sim, PinSimulation)
    sim.place_test_mass(250.0)
    run: Callable[[], object] = (
        hardware.scale.read_g if action == "weight" else lambda: hardware.fill.measure(18.0)
    )
    run()  # first reading includes the HX711's power-up settling: not what is measured
    virtual, wall = [], []
    for _ in range(repeat):
        v0, w0 = sim.gpio.monotonic_ns(), time.perf_counter_ns()
        run()
        wall.append((time.perf_counter_ns() - w0) / 1e6)
        virtual.append((sim.gpio.monotonic_ns() - v0) / 1e6)
    hardware.close()
    return statistics.median(virtual), statistics.median(wall), max(wall)


def main() -> None:
    """Print the figures as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    cases = []
    for rate in (10, 80):
        config = load_config(PROFILE)
        config.simulation.pins.hx711_rate_sps = rate
        samples = config.loadcell.samples
        cases.append((f"weight: {samples} HX711 conversions at {rate} SPS", config, "weight"))
    config = load_config(PROFILE)
    config.simulation.pins.wall_echo_probability = 0.0
    pings = config.ultrasonic.pings
    interval = config.ultrasonic.ping_interval_ms
    cases.append((f"fill: {pings} pings, {interval} ms apart", config, "fill"))
    print(f"# {platform.machine()}, Python {platform.python_version()}, repeat={args.repeat}")
    print("| reading | virtual time (bin) | wall time (simulation), median | wall max |")
    print("|---|---|---|---|")
    for label, case_config, action in cases:
        virtual, wall, wall_max = measure(case_config, action, args.repeat)
        print(f"| {label} | {virtual:.1f} ms | {wall:.2f} ms | {wall_max:.2f} ms |")


if __name__ == "__main__":
    main()
