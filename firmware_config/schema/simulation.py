"""The simulated world a ``sim-pin`` or ``sim-device`` bin runs in, with injected faults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
)

from firmware_config.schema.base import Section


class SimulationFaults(Section):
    """Faults injected into the pin-level simulator at start (tests change them live)."""

    hx711: Literal["none", "stuck_high", "stuck_low", "floating", "saturated"] = Field(
        default="none",
        description=(
            "HX711 DOUT stuck high (never ready), stuck low, floating (picks up the clock: "
            "reads all ones) or a saturated reading (load cell wiring broken)."
        ),
    )
    ultrasonic: Literal["none", "no_echo", "echo_stuck", "blind_zone"] = Field(
        default="none",
        description="No echo, echo line stuck high, or a target inside the blind zone.",
    )
    camera: Literal["none", "absent", "timeout", "black_frame"] = Field(
        default="none", description="Camera missing, never delivering a frame, or black frames."
    )
    flap: Literal["none", "jammed"] = Field(default="none", description="Flap stuck closed.")
    door: Literal["none", "left_open"] = Field(
        default="none", description="Door held open whatever consumers do."
    )
    temperature: Literal["none", "absent", "crc_error", "power_on_reset"] = Field(
        default="none",
        description="DS18B20 missing, failing its CRC, or stuck at its 85 degC power-on value.",
    )
    gpio_stall_probability: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Chance that a GPIO call is pre-empted (an HX711 clock pulse too long).",
    )
    gpio_stall_us: float = Field(
        default=120.0, ge=1.0, le=100_000.0, description="How long a pre-empted GPIO call takes."
    )


class SimulationPins(Section):
    """The simulated circuit behind the pins of the pin-level simulator."""

    gpio_call_us: float = Field(
        default=1.0, ge=0.1, le=1000.0, description="Virtual time one GPIO call costs."
    )
    container_depth_mm: float | None = Field(
        default=None,
        ge=100.0,
        le=6000.0,
        description="True container depth; empty means calibration.empty_distance_mm.",
    )
    air_temp_c: float = Field(
        default=18.0, ge=-40.0, le=60.0, description="Air temperature in the container at start."
    )
    hx711_offset: int = Field(
        default=84_000, ge=-(2**22), le=2**22, description="True raw reading of the empty tray."
    )
    hx711_counts_per_g: float = Field(
        default=428.0, ge=1.0, le=10_000.0, description="True raw counts per gram at gain 128."
    )
    hx711_noise_counts: float = Field(
        default=60.0, ge=0.0, le=100_000.0, description="Standard deviation of HX711 noise."
    )
    hx711_drift_counts_per_c: float = Field(
        default=25.0,
        ge=-10_000.0,
        le=10_000.0,
        description="Offset drift per degree Celsius away from 20 degC.",
    )
    hx711_rate_sps: Literal[10, 80] = Field(
        default=10, description="HX711 output rate (RATE pin low: 10, high: 80)."
    )
    ultrasonic_noise_mm: float = Field(
        default=2.0, ge=0.0, le=200.0, description="Standard deviation of echo distance noise."
    )
    wall_echo_mm: float | None = Field(
        default=None,
        ge=20.0,
        le=8000.0,
        description="Distance of a side wall that sometimes answers first (wide beam).",
    )
    wall_echo_probability: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Chance a ping hears the wall, not the contents."
    )
    switch_bounce_ms: float = Field(
        default=3.0, ge=0.0, le=100.0, description="How long a switch contact bounces."
    )


class Simulation(Section):
    """Settings of the simulated backends; ignored on real hardware."""

    seed: int = Field(default=1, ge=0, le=2**32 - 1, description="Seed of the simulated world.")
    images_dir: Path | None = Field(
        default=None,
        description="ImageFolder of photos the simulated camera serves (by category).",
    )
    container_volume_l: float = Field(
        default=240.0, ge=10.0, le=5000.0, description="Usable volume of the simulated container."
    )
    deposits_per_hour: float = Field(
        default=4.0, ge=0.0, le=600.0, description="Mean deposit rate at the busiest hour."
    )
    daily_rhythm: bool = Field(
        default=True,
        description="Visitors follow the hour of day and day of week; false: a constant rate.",
    )
    camera_capture_ms: float = Field(
        default=150.0,
        ge=0.0,
        le=5000.0,
        description="Bin time a simulated still capture takes (picamera2 on a Pi 4: ~100-200 ms).",
    )
    pins: SimulationPins = Field(
        default_factory=SimulationPins, description="The circuit behind the simulated pins."
    )
    faults: SimulationFaults = Field(
        default_factory=SimulationFaults, description="Faults injected at start."
    )
