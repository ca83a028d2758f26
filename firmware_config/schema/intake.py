"""The deposit policy: thresholds, the weights each material may have, what is accepted and
the classifier that decides.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal, Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from firmware_config.schema.base import Category, Section, classifier_types


class Thresholds(Section):
    """Levels at which the bin changes its behaviour."""

    lock_fill_pct: float = Field(
        default=95.0, ge=50.0, le=100.0, description="Fill at which the door locks (overflow)."
    )
    unlock_fill_pct: float = Field(
        default=85.0, ge=0.0, le=100.0, description="Fill below which a locked door unlocks."
    )
    fire_temp_c: float = Field(
        default=70.0, ge=40.0, le=150.0, description="Container temperature raising a fire alarm."
    )
    door_open_alarm_s: float = Field(
        default=120.0, ge=10.0, le=3600.0, description="Door open this long raises door_stuck."
    )
    report_fill_step_pct: float = Field(
        default=5.0,
        ge=0.5,
        le=100.0,
        description="A fill change this large since the last telemetry sends telemetry at once.",
    )
    empty_drop_pct: float = Field(
        default=30.0,
        ge=5.0,
        le=100.0,
        description="A fill drop this large (confirmed twice) means the bin was emptied.",
    )
    empty_below_pct: float = Field(
        default=25.0, ge=0.0, le=90.0, description="...and the fill must end below this."
    )
    empty_min_drop_pct: float = Field(
        default=10.0,
        ge=3.0,
        le=100.0,
        description="A smaller drop also means emptied when it is at least this large and "
        "leaves at most half of the fill (a bin emptied early, at 20 %).",
    )
    offline_fault_s: float = Field(
        default=300.0,
        ge=10.0,
        le=86_400.0,
        description="Disconnected this long raises a network fault (published on return).",
    )
    low_disk_mb: float = Field(
        default=200.0, ge=10.0, le=100_000.0, description="Free disk below this is a storage fault."
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> Self:
        if self.unlock_fill_pct >= self.lock_fill_pct:
            raise ValueError("thresholds.unlock_fill_pct must be below thresholds.lock_fill_pct")
        return self


class WeightRange(Section):
    """Plausible single-item weights of one category, in grams."""

    min_g: float = Field(ge=0.0, le=50_000.0, description="Lightest plausible item.")
    max_g: float = Field(ge=0.0, le=50_000.0, description="Heaviest plausible item.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_g > self.max_g:
            raise ValueError("min_g must not exceed max_g")
        return self


def _default_weight_ranges() -> dict[Category, WeightRange]:
    return {
        "cardboard": WeightRange(min_g=5, max_g=2000),
        "glass": WeightRange(min_g=80, max_g=2500),
        "metal": WeightRange(min_g=5, max_g=1500),
        "paper": WeightRange(min_g=1, max_g=1000),
        "plastic": WeightRange(min_g=2, max_g=1500),
        "trash": WeightRange(min_g=1, max_g=5000),
    }


def _default_accepted() -> list[Category]:
    return ["cardboard", "glass", "metal", "paper", "plastic"]


class Intake(Section):
    """The deposit policy: what the bin takes, and how quickly it decides."""

    accepted_categories: list[Category] = Field(
        default_factory=_default_accepted,
        description="Categories dropped into the container; others are handed back.",
    )
    min_confidence: float = Field(
        default=0.6, ge=0.0, le=1.0, description="Lower classifier confidence is rejected."
    )
    min_item_g: float = Field(
        default=2.0, ge=0.0, le=1000.0, description="Lighter trays count as empty."
    )
    max_item_g: float = Field(
        default=5000.0, ge=1.0, le=50_000.0, description="Heavier items are rejected."
    )
    capture_timeout_s: float = Field(
        default=1.0,
        ge=0.2,
        le=1.0,
        description=(
            "Longest wait for the camera's photo; a capture that times out classifies the "
            "item unknown. At most 1 s, so the decision still comes within 1.5 s of the "
            "door closing."
        ),
    )
    settle_samples: int = Field(
        default=1,
        ge=1,
        le=15,
        description=(
            "Load-cell conversions per reading while the weight settles (an HX711 at "
            "10 SPS takes 100 ms each); the settled weight is the median of the window."
        ),
    )
    settle_readings: int = Field(
        default=3, ge=2, le=20, description="Consecutive stable readings before classifying."
    )
    settle_tolerance_g: float = Field(
        default=3.0, ge=0.1, le=500.0, description="Spread allowed among stable readings."
    )
    settle_timeout_s: float = Field(
        default=3.0, ge=0.2, le=30.0, description="Weight still moving after this is a reject."
    )
    unknown_policy: Literal["reject", "accept"] = Field(
        default="reject", description="What happens to items the camera could not classify."
    )

    @model_validator(mode="after")
    def _known(self) -> Self:
        if len(set(self.accepted_categories)) != len(self.accepted_categories):
            raise ValueError("intake.accepted_categories lists a category twice")
        return self


class Classifier(Section):
    """Which deposit classifier runs and how its answer is checked against the weight."""

    type: str = Field(
        default="onnx",
        description=(
            "Classifier backend: a name registered in agent.classifier.registry "
            "(built in: 'onnx'); each type is a small plug-in class."
        ),
    )
    model: Path | None = Field(
        default=None, description="Model file; empty means the model shipped with the agent."
    )
    threads: int = Field(default=1, ge=1, le=8, description="Inference threads.")
    weight_check: bool = Field(
        default=True, description="Lower the confidence of categories implausible for the weight."
    )
    weight_ranges_g: dict[Category, WeightRange] = Field(
        default_factory=_default_weight_ranges,
        description="Plausible single-item weight per category, in grams.",
    )
    weight_margin: float = Field(
        default=0.25,
        ge=0.0,
        le=10.0,
        description=(
            "How far outside a range (as a fraction of the nearer bound) plausibility falls "
            "from 1 to weight_floor."
        ),
    )
    weight_floor: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Plausibility factor of a weight far outside a category's range.",
    )

    @field_validator("type")
    @classmethod
    def _registered(cls, name: str) -> str:
        known = classifier_types()
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(
                f"classifier.type = {name!r} is not a registered backend "
                f"(registered: {', '.join(known)}){hint}"
            )
        return name
