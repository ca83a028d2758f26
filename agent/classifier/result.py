"""What a deposit classifier answers, and the interface every backend implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from agent.hardware.devices import Image
from protocol.messages import CATEGORIES, Category

CategoryName = Category
"""A deposit category as the wire protocol names it (the six materials and ``unknown``)."""
CATEGORY_NAMES: tuple[CategoryName, ...] = CATEGORIES


@dataclass(frozen=True, slots=True)
class Classification:
    """One classified deposit.

    ``probabilities`` are after the weight check (they sum to 1 over the model's labels);
    ``image_probabilities`` are the image model's alone. ``weight_reason`` says why the
    weight check changed the answer, and is None when it did not.
    """

    category: CategoryName
    confidence: float
    probabilities: Mapping[str, float]
    model_version: str
    weight_plausible: bool | None
    weight_reason: str | None = None
    image_probabilities: Mapping[str, float] = field(default_factory=dict)


@runtime_checkable
class DepositClassifier(Protocol):
    """Decides the material of the item on the tray from its photo and weight."""

    @property
    def model_version(self) -> str:
        """Version of the model answering, as reported in deposit events."""
        ...

    @property
    def version(self) -> str:
        """The same as ``model_version`` (the name the intake state machine reads)."""
        ...

    def classify(self, image: Image, weight_g: float | None) -> Classification:
        """Classify one RGB photo; ``weight_g`` is None when the scale failed."""
        ...
