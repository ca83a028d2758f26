"""The whole configuration of one bin, section by section."""

from __future__ import annotations

from pydantic import (
    Field,
)

from firmware_config.schema.base import Section
from firmware_config.schema.hardware import (
    Calibration,
    CameraCheck,
    FlapDrive,
    Hardware,
    LoadCell,
    Pins,
    Switches,
    TemperatureProbe,
    Ultrasonic,
)
from firmware_config.schema.identity import Identity
from firmware_config.schema.intake import Classifier, Intake, Thresholds
from firmware_config.schema.network import Broker, Intervals, Storage
from firmware_config.schema.simulation import Simulation


class DeviceConfig(Section):
    """The whole configuration of one bin, as loaded from its TOML file."""

    config_version: int = Field(
        default=0, ge=0, le=2**63 - 1, description="Version of the applied remote configuration."
    )
    identity: Identity = Field(description="Who and where the bin is.")
    hardware: Hardware = Field(default_factory=Hardware, description="Hardware backend.")
    pins: Pins = Field(default_factory=Pins, description="BCM pin numbers.")
    calibration: Calibration = Field(default_factory=Calibration, description="Calibration.")
    loadcell: LoadCell = Field(default_factory=LoadCell, description="Tray load cell.")
    ultrasonic: Ultrasonic = Field(default_factory=Ultrasonic, description="Fill sensor.")
    thresholds: Thresholds = Field(default_factory=Thresholds, description="Thresholds.")
    intake: Intake = Field(default_factory=Intake, description="Deposit policy.")
    classifier: Classifier = Field(default_factory=Classifier, description="Classifier.")
    intervals: Intervals = Field(default_factory=Intervals, description="Periods.")
    broker: Broker = Field(default_factory=Broker, description="MQTT connection.")
    storage: Storage = Field(default_factory=Storage, description="Local storage.")
    switches: Switches = Field(default_factory=Switches, description="Door and beam inputs.")
    flap: FlapDrive = Field(default_factory=FlapDrive, description="Flap drive.")
    temperature: TemperatureProbe = Field(
        default_factory=TemperatureProbe, description="DS18B20 probe."
    )
    camera: CameraCheck = Field(default_factory=CameraCheck, description="Camera checks.")
    simulation: Simulation = Field(default_factory=Simulation, description="Simulated world.")
