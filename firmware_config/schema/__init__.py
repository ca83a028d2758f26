"""The device configuration schema of one bin.

Every section forbids unknown keys (a misspelt key is an error, not a silent default),
every number has bounds and every field a description, so ``bin-agent config validate``
can explain any mistake by its key path. Secrets never live in the file: the broker
password is read from the environment variable the file names, when it is needed.
"""

from firmware_config.schema.base import (
    BIN_ID_PATTERN,
    CATEGORIES,
    REGION_PATTERN,
    BcmPin,
    Category,
    Section,
    classifier_types,
    register_classifier_type,
    unregister_classifier_type,
)
from firmware_config.schema.device import DeviceConfig
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
from firmware_config.schema.identity import Identity, Location
from firmware_config.schema.intake import (
    Classifier,
    Intake,
    Thresholds,
    WeightRange,
)
from firmware_config.schema.network import Broker, Intervals, Storage, Tls
from firmware_config.schema.simulation import Simulation, SimulationFaults, SimulationPins

__all__ = [
    "BIN_ID_PATTERN",
    "CATEGORIES",
    "REGION_PATTERN",
    "BcmPin",
    "Broker",
    "Calibration",
    "CameraCheck",
    "Category",
    "Classifier",
    "DeviceConfig",
    "FlapDrive",
    "Hardware",
    "Identity",
    "Intake",
    "Intervals",
    "LoadCell",
    "Location",
    "Pins",
    "Section",
    "Simulation",
    "SimulationFaults",
    "SimulationPins",
    "Storage",
    "Switches",
    "TemperatureProbe",
    "Thresholds",
    "Tls",
    "Ultrasonic",
    "WeightRange",
    "classifier_types",
    "register_classifier_type",
    "unregister_classifier_type",
]
