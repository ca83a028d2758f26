"""Batching a region's open pickups into vehicle routes (OR-Tools CVRP with time windows).

Each region has a depot and a fleet of identical vehicles (``routing.regions``). A
stop's demand is its container volume times its fill (litres) and the kg of its
manifest (or the bin's weight, if larger); its time window closes at ``due_by``.
Vehicles leave the depot when the plan is made, drive at the region's average speed
over great-circle distances, spend ``service_minutes`` at each stop and must be back
within the shift. Overdue stops are served as early as possible (a soft bound); a
stop that cannot be served within capacity, due time and shift is dropped, with a
penalty that grows with its priority, and reported as unassigned with the reason.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from cloud_bridge.config.routing import RouteRegion, RoutingSettings
from cloud_bridge.domain.records import PickupRecord
from cloud_bridge.store.protocols import Store
from protocol import format_ts

logger = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088
_DROP_PENALTY = {"normal": 10_000_000, "high": 100_000_000, "urgent": 1_000_000_000}
_SCALE = 10  # litres and kg are modelled in tenths

RouteSearch = Literal["guided", "descent"]
"""How the solver improves its first plan: ``guided`` local search until the time limit
(the best plans; how far it gets depends on the machine's speed), or ``descent`` to the
first local optimum (a few percent longer, usually well within the limit, and the same
plan on every machine and run: what a simulation comparing policies needs)."""


@dataclass(frozen=True, slots=True)
class RouteStop:
    """An open pickup as the router sees it."""

    pickup_id: str
    bin_id: str
    lat: float
    lon: float
    volume_l: float
    kg: float
    due_by: datetime
    priority: str


@dataclass(frozen=True, slots=True)
class PlannedStop:
    """One stop of a vehicle's route, in order."""

    order: int
    pickup_id: str
    bin_id: str
    lat: float
    lon: float
    leg_km: float
    cumulative_km: float
    eta: datetime
    due_by: datetime
    volume_l: float
    kg: float
    load_l: float
    load_kg: float
    priority: str


@dataclass(frozen=True, slots=True)
class VehicleRoute:
    """A vehicle's stops from the depot and back."""

    vehicle: int
    stops: list[PlannedStop]
    distance_km: float
    back_at: datetime
    load_l: float
    load_kg: float


@dataclass(frozen=True, slots=True)
class Unassigned:
    """A pickup no vehicle takes, and why."""

    pickup_id: str
    bin_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Routes of one region's vehicles for the open pickups."""

    region: str
    depot_lat: float
    depot_lon: float
    start: datetime
    vehicles: list[VehicleRoute]
    unassigned: list[Unassigned]
    solve_s: float
    time_limit_s: float
    capacity_l: float
    capacity_kg: float

    def as_json(self) -> dict[str, Any]:
        """The plan as one JSON object."""
        return {
            "region": self.region,
            "depot": {"lat": self.depot_lat, "lon": self.depot_lon},
            "start": format_ts(self.start),
            "capacity": {"volume_l": self.capacity_l, "kg": self.capacity_kg},
            "solve_s": round(self.solve_s, 3),
            "time_limit_s": self.time_limit_s,
            "vehicles": [
                {
                    "vehicle": route.vehicle,
                    "distance_km": round(route.distance_km, 3),
                    "back_at": format_ts(route.back_at),
                    "load_l": round(route.load_l, 1),
                    "load_kg": round(route.load_kg, 3),
                    "stops": [
                        {
                            "order": s.order,
                            "pickup_id": s.pickup_id,
                            "bin_id": s.bin_id,
                            "location": {"lat": s.lat, "lon": s.lon},
                            "leg_km": round(s.leg_km, 3),
                            "cumulative_km": round(s.cumulative_km, 3),
                            "eta": format_ts(s.eta),
                            "due_by": format_ts(s.due_by),
                            "priority": s.priority,
                            "volume_l": round(s.volume_l, 1),
                            "kg": round(s.kg, 3),
                            "load_l": round(s.load_l, 1),
                            "load_kg": round(s.load_kg, 3),
                        }
                        for s in route.stops
                    ],
                }
                for route in self.vehicles
            ],
            "unassigned": [
                {"pickup_id": u.pickup_id, "bin_id": u.bin_id, "reason": u.reason}
                for u in self.unassigned
            ],
        }


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in km (works on numpy arrays)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def stops_for_region(
    store: Store, routing: RoutingSettings, region: str, *, due_before: datetime | None = None
) -> tuple[list[RouteStop], list[Unassigned]]:
    """The region's open pickups as stops; those without a location are unassigned.

    ``due_before`` keeps a round's *must-go* stops: the pickups due before then (the
    next round's start, for crews on daily rounds), and every ``high`` or ``urgent``
    one. The others stay open for a later round, when their bins are fuller: routing
    every open pickup at once empties bins a day or more before they need it.
    """
    bins = {record.bin_id: record for record in store.load_bins()}
    stops: list[RouteStop] = []
    missing: list[Unassigned] = []
    for pickup in store.list_pickups(open_only=True, region=region):
        if due_before is not None and pickup.due_by >= due_before and pickup.priority == "normal":
            continue
        stop = _stop(pickup, routing, bins.get(pickup.bin_id))
        if stop is None:
            missing.append(Unassigned(pickup.pickup_id, pickup.bin_id, "bin has no location"))
        else:
            stops.append(stop)
    return stops, missing


def _stop(pickup: PickupRecord, routing: RoutingSettings, record: Any) -> RouteStop | None:
    location = pickup.location
    if location is None or location.lat is None or location.lon is None:
        return None
    fill = pickup.fill_pct
    if fill is None and record is not None:
        fill = record.fill_pct
    volume = routing.container_for(pickup.bin_id) * (100.0 if fill is None else fill) / 100.0
    kg = sum(entry.kg for entry in pickup.manifest.values())
    if record is not None and record.weight_kg is not None:
        kg = max(kg, record.weight_kg)
    return RouteStop(
        pickup_id=pickup.pickup_id,
        bin_id=pickup.bin_id,
        lat=location.lat,
        lon=location.lon,
        volume_l=volume,
        kg=kg,
        due_by=pickup.due_by,
        priority=pickup.priority,
    )


def plan_routes(
    region: str,
    stops: list[RouteStop],
    fleet: RouteRegion,
    *,
    start: datetime,
    service_minutes: float,
    time_limit_s: float,
    unassigned: list[Unassigned] | None = None,
    search: RouteSearch = "guided",
) -> RoutePlan:
    """Solve the vehicle routing problem for ``stops`` from the region's depot."""
    began = time.perf_counter()
    dropped = list(unassigned or [])
    horizon = int(fleet.shift_hours * 3600)
    lat = np.array([fleet.depot.lat] + [s.lat for s in stops])
    lon = np.array([fleet.depot.lon] + [s.lon for s in stops])
    km = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    metres = np.rint(km * 1000).astype(np.int64)
    service_s = int(service_minutes * 60)
    drive_s = np.rint(km / fleet.speed_kmh * 3600).astype(np.int64)

    def empty_plan() -> RoutePlan:
        return RoutePlan(
            region, fleet.depot.lat, fleet.depot.lon, start, [], dropped,
            time.perf_counter() - began, time_limit_s, fleet.vehicle_volume_l, fleet.vehicle_kg,
        )  # fmt: skip

    if not stops:
        return empty_plan()

    # Each second an overdue stop waits costs as much as late_cost_km_per_hour / 3600 km.
    late_per_s = max(1, round(fleet.late_cost_km_per_hour * 1000 / 3600))
    manager = pywrapcp.RoutingIndexManager(len(stops) + 1, fleet.vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)

    # Matrices, not Python callbacks: the solver reads them without calling back into
    # Python, which lets it search several times as far within its time limit.
    cost = routing.RegisterTransitMatrix(metres.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    # A vehicle sent out costs a crew's shift: without this the solver sends every
    # vehicle whenever that brings a due stop a little earlier.
    routing.SetFixedCostOfAllVehicles(int(fleet.vehicle_cost_km * 1000))
    travel_s = drive_s.copy()
    travel_s[1:, :] += service_s  # the service at a stop, before leaving it
    time_cb = routing.RegisterTransitMatrix(travel_s.tolist())
    routing.AddDimension(time_cb, horizon, horizon, True, "time")
    time_dim = routing.GetDimensionOrDie("time")

    volumes = [0] + [math.ceil(s.volume_l * _SCALE) for s in stops]
    weights = [0] + [math.ceil(s.kg * _SCALE) for s in stops]
    for name, demand, capacity in (
        ("volume", volumes, fleet.vehicle_volume_l),
        ("kg", weights, fleet.vehicle_kg),
    ):
        callback = routing.RegisterUnaryTransitVector(demand)
        routing.AddDimensionWithVehicleCapacity(
            callback, 0, [int(capacity * _SCALE)] * fleet.vehicles, True, name
        )

    for node, stop in enumerate(stops, start=1):
        index = manager.NodeToIndex(node)
        latest = int((stop.due_by - start).total_seconds())
        if latest <= 0 and fleet.overdue_within_hours is not None:
            time_dim.CumulVar(index).SetRange(
                0, min(int(fleet.overdue_within_hours * 3600), horizon)
            )
        elif latest <= 0:
            time_dim.SetCumulVarSoftUpperBound(index, 0, late_per_s)
        else:
            time_dim.CumulVar(index).SetRange(0, min(latest, horizon))
        routing.AddDisjunction([index], _DROP_PENALTY.get(stop.priority, _DROP_PENALTY["normal"]))

    parameters = pywrapcp.DefaultRoutingSearchParameters()
    parameters.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    parameters.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        if search == "guided"
        else routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    )
    parameters.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    solution = routing.SolveWithParameters(parameters)
    if solution is None:
        logger.warning("no route plan found for %d stops in region %s", len(stops), region)
        dropped.extend(Unassigned(s.pickup_id, s.bin_id, "the solver found no plan") for s in stops)
        return empty_plan()

    served: set[int] = set()
    routes: list[VehicleRoute] = []
    for vehicle in range(fleet.vehicles):
        index = routing.Start(vehicle)
        previous = 0
        total_km = 0.0
        load_l = 0.0
        load_kg = 0.0
        planned: list[PlannedStop] = []
        index = solution.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            stop = stops[node - 1]
            served.add(node)
            leg = float(km[previous, node])
            total_km += leg
            load_l += stop.volume_l
            load_kg += stop.kg
            planned.append(
                PlannedStop(
                    order=len(planned) + 1,
                    pickup_id=stop.pickup_id,
                    bin_id=stop.bin_id,
                    lat=stop.lat,
                    lon=stop.lon,
                    leg_km=leg,
                    cumulative_km=total_km,
                    eta=start + timedelta(seconds=solution.Min(time_dim.CumulVar(index))),
                    due_by=stop.due_by,
                    volume_l=stop.volume_l,
                    kg=stop.kg,
                    load_l=load_l,
                    load_kg=load_kg,
                    priority=stop.priority,
                )
            )
            previous = node
            index = solution.Value(routing.NextVar(index))
        if not planned:
            continue
        total_km += float(km[previous, 0])
        back = start + timedelta(seconds=solution.Min(time_dim.CumulVar(index)))
        routes.append(VehicleRoute(vehicle + 1, planned, total_km, back, load_l, load_kg))

    for node, stop in enumerate(stops, start=1):
        if node not in served:
            reason = _why(stop, fleet, km, start, node, service_s)
            dropped.append(Unassigned(stop.pickup_id, stop.bin_id, reason))
    return RoutePlan(
        region=region,
        depot_lat=fleet.depot.lat,
        depot_lon=fleet.depot.lon,
        start=start,
        vehicles=routes,
        unassigned=dropped,
        solve_s=time.perf_counter() - began,
        time_limit_s=time_limit_s,
        capacity_l=fleet.vehicle_volume_l,
        capacity_kg=fleet.vehicle_kg,
    )


def _why(
    stop: RouteStop, fleet: RouteRegion, km: Any, start: datetime, node: int, service_s: int
) -> str:
    if stop.volume_l > fleet.vehicle_volume_l or stop.kg > fleet.vehicle_kg:
        return "larger than a vehicle's capacity"
    reach = float(km[0, node]) / fleet.speed_kmh * 3600
    if reach + float(km[node, 0]) / fleet.speed_kmh * 3600 + service_s > fleet.shift_hours * 3600:
        return "too far to reach and return within the shift"
    latest = (stop.due_by - start).total_seconds()
    if 0 < latest < reach:
        return "due before a vehicle can reach it"
    return "no room in the vehicles' capacity, due times and shift"
