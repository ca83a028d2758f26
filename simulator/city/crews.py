"""The depot, the collection vehicles and their crews: a day's stops become routes and visits.

Every policy hands its stops for a shift to the same planner, the bridge's own
(:func:`cloud_bridge.planning.routes.plan_routes`, OR-Tools with capacities, time windows
and the shift), so the policies differ in what they collect and when, never in how
well their routes are drawn. The crews then drive the routes: each bin of a route is
emptied at the planned time of arrival, in order.

Distances: the planner measures great-circle distances; city streets are longer. Road
kilometres are taken as ``circuity`` x the straight line (1.35: published circuity
factors run about 1.1-1.4, e.g. the country averages of Ballou, Rahardja and Sakai 2002,
"Selected country circuity factors for road travel distance estimation"; a city's
streets sit near the top), and the planner is given ``speed_kmh / circuity`` so its
driving times are road times.

CO2e: ``co2e_kg_per_km`` = 1.5 kg per km: 0.6 L of diesel per km (an assumption for a
26 t refuse collection vehicle in stop-and-go collection; published fleet figures range
from about 0.4 to 1 L/km) x 2.51 kg CO2e per litre (UK government conversion factor for
diesel, scope 1, as tabulated by the Energy Saving Trust's fleet toolkit). Set it to a
fleet's own figure with ``--co2e-per-km``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cloud_bridge.config.routing import Depot, RouteRegion
from cloud_bridge.planning.routes import RoutePlan, RouteStop, plan_routes
from simulator.city.world import HOUR_S, CityWorld, at
from simulator.world.trajectories import START

REGION = "city"
"""The bridge region of every city bin."""


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """The collection fleet: vehicles, crews' hours and how the routes are measured."""

    vehicles: int = 6
    volume_l: float = 60_000.0
    """Loose litres one vehicle takes: a 20 m3 body compacting about 3:1."""
    kg: float = 9_000.0
    speed_kmh: float = 25.0
    """Average road speed between stops."""
    circuity: float = 1.35
    shift_start_h: float = 6.0
    shift_hours: float = 8.0
    service_minutes: float = 2.0
    co2e_kg_per_km: float = 1.5
    solver_limit_s: float = 60.0
    """A cap on each plan's search (descent to a local optimum usually stops sooner)."""

    def shift_start(self, day: int) -> float:
        """Seconds from the start of the run to the shift of ``day``."""
        return day * 24 * HOUR_S + self.shift_start_h * HOUR_S

    def region(self, depot: tuple[float, float]) -> RouteRegion:
        """The bridge's routing settings for this fleet (``[routing.regions.city]``)."""
        return RouteRegion(
            depot=Depot(lat=depot[0], lon=depot[1]),
            vehicles=self.vehicles,
            vehicle_volume_l=self.volume_l,
            vehicle_kg=self.kg,
            speed_kmh=self.speed_kmh / self.circuity,
            shift_hours=self.shift_hours,
            overdue_within_hours=self.shift_hours / 2,
        )


@dataclass(frozen=True, slots=True)
class Visit:
    """A crew at a bin: empties it at ``at`` (seconds)."""

    bin: int
    at: float
    pickup_id: str


@dataclass(slots=True)
class ShiftRoutes:
    """What one shift drove and which bins it emptied."""

    day: int
    km: float
    vehicle_hours: float
    vehicles: int
    visits: list[Visit] = field(default_factory=list)
    unassigned: int = 0


class Crews:
    """Plans each shift's routes with the bridge's planner and turns them into visits."""

    def __init__(self, world: CityWorld, options: FleetOptions) -> None:
        self.world = world
        self.options = options
        self.fleet = options.region(world.depot)
        self._index = {bin_id: i for i, bin_id in enumerate(world.bin_ids)}

    def stop(
        self, index: int, pickup_id: str, litres: float, due: float, priority: str = "normal"
    ) -> RouteStop:
        """A stop at bin ``index`` for ``litres`` of waste, to be reached by ``due``."""
        world = self.world
        return RouteStop(
            pickup_id=pickup_id,
            bin_id=world.bin_ids[index],
            lat=float(world.lat[index]),
            lon=float(world.lon[index]),
            volume_l=litres,
            kg=litres * world.options.kg_per_l,
            due_by=at(due),
            priority=priority,
        )

    def shift_end(self, day: int) -> float:
        """When the shift of ``day`` ends (seconds)."""
        return self.options.shift_start(day) + self.options.shift_hours * HOUR_S

    def plan(self, day: int, stops: list[RouteStop]) -> tuple[ShiftRoutes, RoutePlan]:
        """Route ``stops`` for the shift of ``day``: the visits, kilometres and hours."""
        options = self.options
        start = options.shift_start(day)
        plan = plan_routes(
            REGION,
            stops,
            self.fleet,
            start=at(start),
            service_minutes=options.service_minutes,
            time_limit_s=options.solver_limit_s,
            search="descent",
        )
        shift = ShiftRoutes(day, 0.0, 0.0, len(plan.vehicles), unassigned=len(plan.unassigned))
        for route in plan.vehicles:
            shift.km += route.distance_km * options.circuity
            shift.vehicle_hours += (route.back_at - plan.start).total_seconds() / HOUR_S
            for stop in route.stops:
                when = (stop.eta - START).total_seconds()
                shift.visits.append(Visit(self._index[stop.bin_id], when, stop.pickup_id))
        shift.visits.sort(key=lambda visit: visit.at)
        return shift, plan
