"""What a collection policy is to the city: it watches the bins and names each shift's stops.

The run (:mod:`simulator.city.sim`) owns the world, the true contents
(:class:`~simulator.city.book.FillBook`) and the crews; a policy sees what it would see in
life (readings for the sensor policies, nothing for the calendar, the future for the
oracle) and answers one question at each shift's start: which bins, by when.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from cloud_bridge.planning.routes import RoutePlan, RouteStop
from simulator.city.book import Collection, FillBook
from simulator.city.crews import Crews, FleetOptions, ShiftRoutes, Visit
from simulator.city.sensors import Readings, ReportingOptions
from simulator.city.world import CityWorld, IntArray


@dataclass(frozen=True, slots=True)
class RunContext:
    """Everything a policy may look at (what it may *use* is its own discipline)."""

    world: CityWorld
    book: FillBook
    crews: Crews
    fleet: FleetOptions
    reporting: ReportingOptions


class Policy(ABC):
    """A collection policy; subclasses set ``name`` and answer :meth:`stops`."""

    name: ClassVar[str] = ""

    def __init__(self, context: RunContext) -> None:
        self.context = context
        self.world = context.world
        self.crews = context.crews

    def observe(self, readings: Readings, deposits: IntArray) -> None:
        """A round of sensor readings at ``readings.at``; ``deposits`` came since the last."""
        return None  # a hook: a policy that does not need it ignores it

    @abstractmethod
    def stops(self, day: int) -> list[RouteStop]:
        """The stops of the shift of ``day`` (called at its start)."""

    def dispatched(self, shift: ShiftRoutes, plan: RoutePlan) -> None:
        """The crews' routes for the shift, as planned."""
        return None  # a hook: a policy that does not need it ignores it

    def emptied(self, visit: Visit, collection: Collection) -> None:
        """A crew emptied a bin."""
        return None  # a hook: a policy that does not need it ignores it

    def notes(self) -> dict[str, Any]:
        """Figures of the policy's own to report (e.g. the bridge's counts)."""
        return {}

    def close(self) -> None:
        """The run is over: release what the policy holds."""
        return None  # a hook: a policy that does not need it ignores it

    @property
    def book(self) -> FillBook:
        """The true contents (only the oracle may read the future from it)."""
        return self.context.book
