"""``revloop``: the bridge's own pickup policy, forecasts and routes, run in process.

Nothing of the bridge is re-implemented here. The policy builds the bridge's engine
pieces as ``bin-bridge run`` does, minus the network: a store (a SQLite file in a
temporary directory, through :func:`cloud_bridge.store.open_store`) and the
:class:`~cloud_bridge.engine.processor.Processor` with its services (pickups, forecasts,
tickets), on a clock that reads the simulation's time. Each round of readings, the bins'
messages (:class:`~simulator.city.agents.CityAgents`, real protocol payloads) go through
``Processor.process`` in batches of ``ingest.batch_max``, as the writer thread commits
them, and the policy tick (``Processor.tick``: forecasts, forecast requests, escalation)
runs every ``timers.tick_s`` of simulated time, as the writer runs it on the bridge's
clock. At each shift's start the dispatcher does what a scheduler does with ``bin-bridge
routes``: takes the region's open pickups from the store
(:func:`cloud_bridge.planning.routes.stops_for_region`), plans them with the bridge's
planner, and schedules each routed pickup for its arrival time through the pickup
service. The crews empty the bins; the bins' readings fall, their agents report the
emptying, and the bridge collects the pickups on that evidence, as it would in life.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.domain.records import PickupRecord
from cloud_bridge.engine.processor import Processor
from cloud_bridge.planning.routes import RoutePlan, RouteStop, stops_for_region
from cloud_bridge.services.pickups import PickupService
from cloud_bridge.store import Store, open_store
from simulator.city.agents import CityAgents
from simulator.city.crews import REGION, FleetOptions, ShiftRoutes
from simulator.city.policies.base import Policy, RunContext
from simulator.city.sensors import Readings
from simulator.city.world import CityWorld, IntArray, at

DISPATCHER = "city-dispatch"


def _schedule(pickups: PickupService, *, pickup_id: str, when: datetime) -> PickupRecord:
    """A scheduler plans the pickup for the crew's arrival (``POST .../schedule``)."""
    # the round is the earliest a crew can come: late or not, the city means it
    return pickups.schedule(pickup_id, when, DISPATCHER, confirm=True)


def city_settings(
    world: CityWorld, fleet: FleetOptions, db: Path, overrides: dict[str, Any] | None = None
) -> BridgeSettings:
    """The bridge's settings for the city: its region, depot, vehicles and containers.

    The pickup policy and the forecasts keep the bridge's defaults unless ``overrides``
    (a settings mapping merged section by section) changes them.
    """
    container_l = {
        bin_id: float(litres)
        for bin_id, litres in zip(world.bin_ids, world.container_l.tolist(), strict=True)
        if litres != 240.0
    }
    region = fleet.region(world.depot)
    data: dict[str, Any] = {
        "default_region": REGION,
        "store": {"path": str(db), "synchronous": "NORMAL"},
        "routing": {
            "default_container_l": 240.0,
            "container_l": container_l,
            "service_minutes": fleet.service_minutes,
            "time_limit_s": fleet.solver_limit_s,
            "regions": {REGION: region.model_dump()},
        },
    }
    for section, values in (overrides or {}).items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    return validate_settings(data, source="city")


class RevloopPolicy(Policy):
    """The bridge's processor and services on the simulation's clock."""

    name = "revloop"

    def __init__(
        self,
        context: RunContext,
        *,
        overrides: dict[str, Any] | None = None,
        reach_h: float = 1.0,
    ) -> None:
        super().__init__(context)
        self.reach_s = reach_h * 3600.0
        self._directory = tempfile.TemporaryDirectory(prefix="revloop-city-")
        db = Path(self._directory.name) / "bridge.db"
        self.settings = city_settings(self.world, context.fleet, db, overrides)
        self.now: datetime = at(0.0)
        self.store: Store = open_store(self.settings.store)
        self.processor = Processor(self.settings, self.store, self.clock)
        self.agents = CityAgents(self.world, REGION, prefix=self.settings.broker.topic_prefix)
        self._tick_every = timedelta(seconds=self.settings.timers.tick_s)
        self._next_tick = self.now
        self.batches = 0
        self.ticks = 0
        self.scheduled = 0
        self._feed(self.agents.births(0.0))

    def clock(self) -> datetime:
        """The bridge's "now": the simulation's time."""
        return self.now

    def observe(self, readings: Readings, deposits: IntArray) -> None:
        """The bins' messages of this round through the processor, then the policy tick."""
        self.now = at(readings.at)
        took = self.book.took(deposits)
        self._feed(self.agents.round(readings, deposits, took))
        if self.now >= self._next_tick:
            self._next_tick = self.now + self._tick_every
            self.processor.tick()
            self.ticks += 1

    def stops(self, day: int) -> list[RouteStop]:
        """The region's open pickups due before the next round can come (and the high
        ones), as ``bin-bridge routes --due-before`` plans them."""
        next_round = self.context.fleet.shift_start(day + 1) + self.reach_s
        stops, _ = stops_for_region(
            self.store, self.settings.routing, REGION, due_before=at(next_round)
        )
        return stops

    def dispatched(self, shift: ShiftRoutes, plan: RoutePlan) -> None:
        """Schedule every routed pickup for the crew's arrival (a scheduler's action)."""
        for route in plan.vehicles:
            for stop in route.stops:
                self.processor.act(partial(_schedule, pickup_id=stop.pickup_id, when=stop.eta))
                self.scheduled += 1

    def notes(self) -> dict[str, Any]:
        """What the bridge did: messages, batches, ticks, pickups by reason."""
        reasons: dict[str, int] = {}
        for pickup in self.store.list_pickups():
            reasons[pickup.reason] = reasons.get(pickup.reason, 0) + 1
        return {
            "messages": self.agents.sent,
            "batches": self.batches,
            "ticks": self.ticks,
            "pickups_by_reason": reasons,
            "scheduled": self.scheduled,
        }

    def close(self) -> None:
        """Close the store and remove its directory."""
        self.store.close()
        self._directory.cleanup()

    def _feed(self, messages: Sequence[Inbound]) -> None:
        size = self.settings.ingest.batch_max
        for start in range(0, len(messages), size):
            self.processor.process(messages[start : start + size])
            self.batches += 1
