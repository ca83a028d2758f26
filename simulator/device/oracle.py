"""A stand-in classifier for fleet-scale runs: it knows what is on the tray.

Running the real image model for every deposit of hundreds of simulated bins costs
more than the rest of the simulation together. This classifier looks at the world's
item instead and errs at a configurable rate, so fleet runs keep a realistic share of
misclassifications and low-confidence rejections. Bins on the pin-level simulator or
real hardware use the real model (``classifier.type = "onnx"``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agent.hardware.devices import Image
from simulator.device.physical import PhysicalBin

LABELS = ("cardboard", "glass", "metal", "paper", "plastic", "trash")


@dataclass(frozen=True, slots=True)
class OracleAnswer:
    """A classification with the fields the intake reads."""

    category: str
    confidence: float


class OracleClassifier:
    """Names the true material of the tray's item, wrong ``1 - accuracy`` of the time."""

    version = "sim-oracle-1"

    def __init__(self, physical: PhysicalBin, rng: random.Random, accuracy: float = 0.95) -> None:
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"accuracy must be between 0 and 1, not {accuracy}")
        self.physical = physical
        self.rng = rng
        self.accuracy = accuracy

    def classify(self, image: Image, weight_g: float | None) -> OracleAnswer:
        """The item's category (or a confusion), with a plausible confidence."""
        item = self.physical.tray
        if item is None:
            return OracleAnswer("unknown", 0.0)
        if self.rng.random() < self.accuracy:
            return OracleAnswer(item.category, round(self.rng.uniform(0.7, 0.999), 3))
        wrong = self.rng.choice([label for label in LABELS if label != item.category])
        return OracleAnswer(wrong, round(self.rng.uniform(0.35, 0.8), 3))
