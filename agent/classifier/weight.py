"""Fusing the image model's answer with the tray weight.

Rule: each category's probability is multiplied by a plausibility factor of the weight
for that category, then the probabilities are renormalised. The factor is 1 inside the
category's range ``[min_g, max_g]``; outside it falls off linearly with the relative
distance to the nearest bound, reaching ``floor`` at ``margin`` (a fraction of that
bound) beyond it: a 150 g item against a 1,000 g maximum is inside; at 1,100 g with
``margin = 0.25`` the factor is ``1 - (0.1/0.25)·(1 - floor)``; past 1,250 g it stays
at ``floor``. Below ``min_g`` the distance is measured relative to ``min_g``. Because
the factor never reaches 0, a confident image still wins against a slightly off scale.
When the weight is unknown (scale failed) nothing changes. When every category has
the same factor the renormalised answer equals the image's answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from firmware_config.schema import WeightRange

DEFAULT_MARGIN = 0.25
DEFAULT_FLOOR = 0.05


@dataclass(frozen=True, slots=True)
class WeightCheck:
    """The outcome of fusing: new probabilities, whether the image's top choice was plausible."""

    probabilities: dict[str, float]
    factors: dict[str, float]
    plausible: bool | None
    reason: str | None


def plausibility(
    weight_g: float,
    bounds: WeightRange,
    margin: float = DEFAULT_MARGIN,
    floor: float = DEFAULT_FLOOR,
) -> float:
    """The factor (floor..1) for ``weight_g`` against one category's range."""
    if bounds.min_g <= weight_g <= bounds.max_g:
        return 1.0
    if weight_g > bounds.max_g:
        reference = max(bounds.max_g, 1.0)
        distance = (weight_g - bounds.max_g) / reference
    else:
        reference = max(bounds.min_g, 1.0)
        distance = (bounds.min_g - weight_g) / reference
    if margin <= 0:
        return floor
    return max(floor, 1.0 - (distance / margin) * (1.0 - floor))


def fuse(
    probabilities: Mapping[str, float],
    weight_g: float | None,
    ranges: Mapping[str, WeightRange],
    margin: float = DEFAULT_MARGIN,
    floor: float = DEFAULT_FLOOR,
) -> WeightCheck:
    """Scale ``probabilities`` by each label's weight plausibility and renormalise.

    Labels without a configured range keep factor 1. With no weight (or a non-finite
    one) the probabilities pass through and ``plausible`` is None.
    """
    image_top = max(probabilities, key=lambda k: probabilities[k])
    if weight_g is None or not math.isfinite(weight_g):
        return WeightCheck(dict(probabilities), {k: 1.0 for k in probabilities}, None, None)
    factors = {
        label: plausibility(weight_g, ranges[label], margin, floor) if label in ranges else 1.0
        for label in probabilities
    }
    scaled = {label: p * factors[label] for label, p in probabilities.items()}
    total = sum(scaled.values())
    fused = (
        {label: value / total for label, value in scaled.items()}
        if total > 0
        else dict(probabilities)
    )
    plausible = factors[image_top] >= 1.0
    fused_top = max(fused, key=lambda k: fused[k])
    reason = None
    if fused_top != image_top:
        bounds = ranges[image_top]
        reason = (
            f"{weight_g:.0f} g is implausible for {image_top} "
            f"({bounds.min_g:g}-{bounds.max_g:g} g); {fused_top} fits"
        )
    return WeightCheck(fused, factors, plausible, reason)
