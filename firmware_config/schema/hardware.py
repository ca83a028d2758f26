"""The bin's hardware: backend, pins, calibration, load cell, fill sensor, switches, flap,
temperature probe and camera checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from firmware_config.schema.base import BcmPin, Section


class Hardware(Section):
    """Which hardware backend the agent drives."""

    backend: Literal["sim-device", "sim-pin", "rpi"] = Field(
        default="sim-device",
        description=(
            "'rpi' drives real pins (RPi.GPIO or rpi-lgpio) and picamera2; 'sim-pin' the "
            "pin-level simulator; 'sim-device' the device-level simulator."
        ),
    )
    flap: Literal["servo", "solenoid"] = Field(
        default="servo", description="How accepted items are dropped into the container."
    )
    ultrasonic_model: Literal["hc-sr04", "jsn-sr04t"] = Field(
        default="jsn-sr04t", description="Fill sensor type; sets its no-echo behaviour."
    )
    temperature_sensor: Literal["none", "ds18b20", "sim"] = Field(
        default="none", description="Container temperature sensor (speed of sound, fire)."
    )
    camera_index: int = Field(default=0, ge=0, le=7, description="picamera2 camera number.")


class Pins(Section):
    """BCM pin numbers of the reference wiring."""

    hx711_dout: BcmPin = Field(default=5, description="HX711 DOUT (data, input, pull-up).")
    hx711_sck: BcmPin = Field(default=6, description="HX711 PD_SCK (clock, output).")
    ultrasonic_trigger: BcmPin = Field(default=23, description="Ultrasonic TRIG (output).")
    ultrasonic_echo: BcmPin = Field(default=24, description="Ultrasonic ECHO (input, divided).")
    door_switch: BcmPin = Field(default=17, description="Door switch (input, low = closed).")
    ir_beam: BcmPin = Field(default=27, description="IR break-beam receiver (low = broken).")
    flap: BcmPin = Field(default=18, description="Flap servo PWM or solenoid driver.")
    lock: BcmPin = Field(default=22, description="Door lock solenoid driver (high = locked).")
    led_green: BcmPin = Field(default=12, description="Green LED (accepted).")
    led_amber: BcmPin = Field(default=16, description="Amber LED (full, locked).")
    led_red: BcmPin = Field(default=20, description="Red LED (rejected, fault).")
    buzzer: BcmPin = Field(default=21, description="Buzzer.")

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        seen: dict[int, str] = {}
        for name in type(self).model_fields:
            pin = getattr(self, name)
            if pin in seen:
                raise ValueError(f"pins.{name} and pins.{seen[pin]} both use BCM {pin}")
            seen[pin] = name
        return self


class Calibration(Section):
    """Calibration values; written back by ``bin-agent calibrate``."""

    tare_offset: int = Field(
        default=0, ge=-(2**23), le=2**23 - 1, description="HX711 raw reading with an empty tray."
    )
    scale_counts_per_g: float = Field(
        default=420.0,
        ge=1.0,
        le=100_000.0,
        description="HX711 raw counts per gram, from a known mass.",
    )
    empty_distance_mm: float = Field(
        default=1000.0,
        ge=100.0,
        le=6000.0,
        description="Distance from the fill sensor to the floor of the empty container.",
    )
    full_distance_mm: float = Field(
        default=250.0,
        ge=20.0,
        le=5000.0,
        description="Distance from the fill sensor to the contents when the container is full.",
    )
    tare_drift_limit_g: float = Field(
        default=50.0,
        ge=1.0,
        le=5000.0,
        description="Empty-tray weight beyond which the bin reports calibration drift.",
    )

    @model_validator(mode="after")
    def _full_above_empty(self) -> Self:
        if self.full_distance_mm >= self.empty_distance_mm:
            raise ValueError(
                "calibration.full_distance_mm must be less than calibration.empty_distance_mm"
            )
        return self


class LoadCell(Section):
    """How the tray load cell is read."""

    gain: Literal[128, 64, 32] = Field(
        default=128, description="HX711 gain: 128 or 64 on channel A, 32 on channel B."
    )
    samples: int = Field(default=5, ge=1, le=31, description="Readings per median-filtered value.")
    ready_timeout_ms: int = Field(
        default=500, ge=10, le=5000, description="Longest wait for the HX711 to become ready."
    )
    retries: int = Field(
        default=3, ge=0, le=10, description="Re-reads after a corrupt reading before failing."
    )
    outlier_g: float = Field(
        default=200.0,
        ge=1.0,
        le=10_000.0,
        description="Readings this far from the median are dropped.",
    )
    max_pulse_us: int = Field(
        default=50,
        ge=5,
        le=60,
        description="A clock pulse longer than this may have powered the HX711 down: re-read.",
    )


class Ultrasonic(Section):
    """How the fill sensor is pinged."""

    pings: int = Field(default=7, ge=1, le=15, description="Pings per fill measurement (median).")
    ping_interval_ms: int = Field(
        default=60, ge=60, le=1000, description="Pause between pings (>= 60 ms, echoes die out)."
    )
    blind_zone_mm: float = Field(
        default=230.0, ge=0.0, le=600.0, description="Closer echoes are not trusted."
    )
    max_range_mm: float = Field(
        default=4500.0, ge=200.0, le=8000.0, description="Farther echoes are not trusted."
    )
    echo_timeout_ms: int = Field(
        default=70, ge=5, le=200, description="Longest echo wait before a ping counts as lost."
    )
    min_valid: int = Field(
        default=3, ge=1, le=15, description="Valid pings needed for a usable measurement."
    )
    default_temp_c: float = Field(
        default=20.0, ge=-40.0, le=60.0, description="Air temperature assumed without a sensor."
    )

    @field_validator("min_valid")
    @classmethod
    def _reachable(cls, min_valid: int, info: ValidationInfo) -> int:
        pings = info.data.get("pings")
        if pings is not None and min_valid > pings:
            raise ValueError(
                f"ultrasonic.min_valid = {min_valid} is more than ultrasonic.pings = {pings}: "
                "no measurement could ever be valid"
            )
        return min_valid


class Switches(Section):
    """How the door switch and IR beam are debounced."""

    door_debounce_ms: int = Field(
        default=20, ge=1, le=500, description="Door switch must be stable this long to count."
    )
    beam_debounce_ms: int = Field(
        default=10, ge=1, le=500, description="IR beam must be stable this long to count."
    )


class FlapDrive(Section):
    """How the flap is driven and how a jam is recognised."""

    servo_hz: int = Field(default=50, ge=40, le=400, description="Servo PWM frequency.")
    closed_pulse_us: int = Field(
        default=1000, ge=400, le=2600, description="Servo pulse width holding the flap closed."
    )
    open_pulse_us: int = Field(
        default=2000, ge=400, le=2600, description="Servo pulse width opening the flap."
    )
    open_ms: int = Field(
        default=600, ge=50, le=5000, description="How long the flap stays open per drop."
    )
    solenoid_pulse_ms: int = Field(
        default=300, ge=20, le=5000, description="Solenoid flap energised this long per drop."
    )
    clear_timeout_ms: int = Field(
        default=1000,
        ge=50,
        le=10_000,
        description="After a drop the beam must clear within this time, or the flap is jammed.",
    )

    @model_validator(mode="after")
    def _distinct_pulses(self) -> Self:
        if self.open_pulse_us == self.closed_pulse_us:
            raise ValueError("flap.open_pulse_us must differ from flap.closed_pulse_us")
        return self


class TemperatureProbe(Section):
    """Where the DS18B20 is read and how long a read may take."""

    w1_devices_dir: Path = Field(
        default=Path("/sys/bus/w1/devices"), description="1-wire sysfs directory of the probe."
    )
    read_timeout_ms: int = Field(
        default=1500, ge=100, le=10_000, description="Longest DS18B20 read before it counts failed."
    )


class CameraCheck(Section):
    """How captured frames are checked."""

    black_level: float = Field(
        default=8.0,
        ge=0.0,
        le=128.0,
        description="Frames whose mean brightness (0-255) is below this are black frames.",
    )
