"""A simulated receiving facility: the end of the loop in ``bin-sim demo``.

When the crew hears that a pickup was collected, the load arrives here: it is weighed
per category (each off the manifest by a seeded relative error of about
``discrepancy``), inspected (about ``contamination`` of each category's kg is not what
the bins classified it as; the bins named in ``drifting`` are four times as bad, as if
their camera were dirty), and reviewed: contaminated material is disposed of, the rest
follows a fixed recipe down the waste hierarchy. Everything is recorded in-process
through the bridge's own facility service, on its single writer, as the API would, so
``classification_drift`` tickets open for the drifting bins as they would in the field.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field

from cloud_bridge.domain.facility import IntakeLine
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.errors import BridgeError
from cloud_bridge.services.facility import DispositionRequest, IntakeRequest, PickupPart
from protocol.messages import Pickup

log = logging.getLogger(__name__)

SIM_FACILITY_ID = "sim-mrf"
ACTOR = "sim-facility"

RECIPE: dict[str, tuple[tuple[str, float], ...]] = {
    "glass": (("reuse", 0.10), ("recycle", 0.90)),
    "metal": (("recycle", 1.0),),
    "plastic": (("recycle", 0.75), ("recover", 0.25)),
    "paper": (("recycle", 1.0),),
    "cardboard": (("reuse", 0.05), ("recycle", 0.95)),
    "trash": (("recover", 0.6), ("dispose", 0.4)),
    "unknown": (("dispose", 1.0),),
}
"""What the clean part of each category becomes (shares of its kg)."""


def site_settings(lat: float, lon: float) -> dict[str, object]:
    """The simulated facility as a ``[[facilities.sites]]`` entry (serving every region)."""
    return {
        "id": SIM_FACILITY_ID,
        "name": "Simulated materials recovery facility",
        "location": {"lat": lat, "lon": lon},
    }


@dataclass
class FacilityOptions:
    """How the simulated facility finds the loads."""

    contamination: float = 0.04
    """Mean share of a category's kg that is not what the bins classified it as."""
    discrepancy: float = 0.05
    """Standard deviation of a weigh-in's relative difference from the manifest."""
    drifting: frozenset[str] = frozenset()
    """Bins whose loads are four times as contaminated (a camera that needs a look)."""
    seed: int = 7


@dataclass
class FacilityCounters:
    """What the simulated facility did."""

    intakes: int = 0
    refused: int = 0
    dispositions: int = 0
    received: set[str] = field(default_factory=set)


class SimFacility:
    """Receives the collected pickups the crew reports, through the bridge's service."""

    def __init__(self, options: FacilityOptions, bridge: Bridge) -> None:
        self.options = options
        self.bridge = bridge
        self.rng = random.Random(options.seed * 7919 + 1)
        self.counters = FacilityCounters()

    def receive(self, pickup: Pickup) -> None:
        """Weigh, inspect and review a collected pickup's load (others are ignored)."""
        if pickup.status != "collected" or pickup.pickup_id in self.counters.received:
            return
        self.counters.received.add(pickup.pickup_id)
        rate = self.options.contamination * (4 if pickup.bin_id in self.options.drifting else 1)
        lines = []
        for category, entry in sorted(pickup.manifest.items()):
            if entry.kg <= 0:
                continue
            kg = max(0.0, entry.kg * (1 + self.rng.gauss(0.0, self.options.discrepancy)))
            bad = min(kg, kg * rate * self.rng.uniform(0.5, 1.5))
            lines.append(IntakeLine(category, round(kg, 3), entry.count, round(bad, 3)))
        if not lines:
            return
        request = IntakeRequest(SIM_FACILITY_ID, [PickupPart(pickup.pickup_id)], lines)
        try:
            intake = self.bridge.facility(lambda service: service.record_intake(request, ACTOR))
        except BridgeError as err:
            self.counters.refused += 1
            log.warning("the facility could not record %s: %s", pickup.pickup_id, err)
            return
        self.counters.intakes += 1
        for line in lines:
            self._review(intake.intake_id, line)

    def _review(self, intake_id: str, line: IntakeLine) -> None:
        """Contaminated kg to disposal, the rest by the recipe."""
        clean = line.kg - line.contaminated_kg
        decisions = [("dispose", line.contaminated_kg)]
        decisions += [(d, clean * share) for d, share in RECIPE.get(line.category, RECIPE["trash"])]
        for disposition, amount in decisions:
            kg = math.floor(amount * 1000) / 1000  # whole grams, never more than the lot
            if kg <= 0:
                continue
            request = DispositionRequest(
                intake_id,
                line.category,
                disposition,
                kg,
                restock=disposition == "reuse",
                grade="A" if disposition == "reuse" else None,
            )
            try:
                self._decide(request)
            except BridgeError as err:
                log.warning("the facility could not decide on %s: %s", intake_id, err)
                continue
            self.counters.dispositions += 1

    def _decide(self, request: DispositionRequest) -> None:
        self.bridge.facility(lambda service: service.record_disposition(request, ACTOR))
