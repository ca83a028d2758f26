"""The weight plausibility check fused with the image model's probabilities."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.classifier.weight import fuse, plausibility
from firmware_config.schema import WeightRange

RANGES = {
    "glass": WeightRange(min_g=80, max_g=2500),
    "paper": WeightRange(min_g=1, max_g=1000),
    "metal": WeightRange(min_g=5, max_g=1500),
}


def test_inside_range_is_fully_plausible() -> None:
    assert plausibility(500, RANGES["paper"]) == 1.0
    assert plausibility(1000, RANGES["paper"]) == 1.0
    assert plausibility(1, RANGES["paper"]) == 1.0


def test_falls_off_linearly_beyond_the_bound_to_the_floor() -> None:
    paper = RANGES["paper"]
    # 10 % above max with a 25 % margin: 40 % of the way to the floor.
    assert plausibility(1100, paper, margin=0.25, floor=0.05) == pytest.approx(1 - 0.4 * 0.95)
    assert plausibility(1250, paper, margin=0.25, floor=0.05) == pytest.approx(0.05)
    assert plausibility(9000, paper, margin=0.25, floor=0.05) == pytest.approx(0.05)


def test_below_minimum_is_measured_relative_to_the_minimum() -> None:
    glass = RANGES["glass"]
    assert plausibility(70, glass, margin=0.25, floor=0.0) == pytest.approx(1 - (10 / 80) / 0.25)
    assert plausibility(10, glass, margin=0.25, floor=0.0) == 0.0


def test_no_weight_leaves_the_image_answer_alone() -> None:
    probs = {"glass": 0.7, "paper": 0.3}
    check = fuse(probs, None, RANGES)
    assert check.probabilities == probs
    assert check.plausible is None
    assert check.reason is None


def test_nan_weight_counts_as_no_weight() -> None:
    assert fuse({"glass": 0.6, "paper": 0.4}, math.nan, RANGES).plausible is None


def test_implausible_weight_changes_the_answer_and_says_why() -> None:
    # A 20 g "glass" item: glass's minimum is 80 g, so paper wins.
    check = fuse({"glass": 0.6, "paper": 0.4}, 20.0, RANGES)
    assert check.plausible is False
    assert max(check.probabilities, key=lambda k: check.probabilities[k]) == "paper"
    assert check.reason is not None
    assert "20 g" in check.reason
    assert "glass" in check.reason
    assert "paper fits" in check.reason
    assert sum(check.probabilities.values()) == pytest.approx(1.0)


def test_confident_image_survives_a_slightly_implausible_weight() -> None:
    # 72 g is 10 % under glass's minimum: softened, not cut.
    check = fuse({"glass": 0.95, "paper": 0.05}, 72.0, RANGES)
    assert check.plausible is False
    assert check.reason is None
    assert max(check.probabilities, key=lambda k: check.probabilities[k]) == "glass"


def test_labels_without_a_range_keep_factor_one() -> None:
    check = fuse({"glass": 0.5, "trash": 0.5}, 20.0, RANGES)
    assert check.factors["trash"] == 1.0
    assert check.probabilities["trash"] > 0.5


@given(
    weight=st.floats(min_value=0, max_value=20_000, allow_nan=False),
    raw=st.lists(st.floats(min_value=0.001, max_value=1.0), min_size=3, max_size=3),
)
def test_fused_probabilities_always_sum_to_one(weight: float, raw: list[float]) -> None:
    total = sum(raw)
    probs = {label: value / total for label, value in zip(RANGES, raw, strict=True)}
    check = fuse(probs, weight, RANGES)
    assert sum(check.probabilities.values()) == pytest.approx(1.0)
    assert all(0.0 <= f <= 1.0 for f in check.factors.values())
