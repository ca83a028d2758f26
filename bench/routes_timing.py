"""Route computation time: 200 stops and 5 vehicles (OR-Tools, guided local search).

Stops are spread over a 18 x 16 km city around the depot, each 120-240 L and 5-60 kg,
due 2-10 h after the plan's start, a fifth of them high priority; 5 vehicles of
10,000 L and 3,000 kg at 25 km/h, a 10-hour shift, 4 minutes per stop. The solver
searches until its time limit (guided local search does not stop earlier), so the
wall time is the limit plus model building; the table shows what more time buys.

    .venv/bin/python bench/routes_timing.py --stops 200 --vehicles 5 --limits 1 2 5 10
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud_bridge.config.routing import Depot, RouteRegion
from cloud_bridge.planning.routes import RouteStop, plan_routes

START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def make_stops(count: int, seed: int) -> list[RouteStop]:
    """Random stops around the depot."""
    rng = random.Random(seed)
    return [
        RouteStop(
            pickup_id=f"pk-{i:04d}",
            bin_id=f"bin-{i:04d}",
            lat=52.52 + rng.uniform(-0.08, 0.08),
            lon=13.405 + rng.uniform(-0.12, 0.12),
            volume_l=rng.uniform(120, 240),
            kg=rng.uniform(5, 60),
            due_by=START + timedelta(hours=rng.uniform(2, 10)),
            priority="high" if rng.random() < 0.2 else "normal",
        )
        for i in range(count)
    ]


def main() -> None:
    """Print one row per time limit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=200)
    parser.add_argument("--vehicles", type=int, default=5)
    parser.add_argument("--limits", type=float, nargs="+", default=[1.0, 2.0, 5.0, 10.0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    stops = make_stops(args.stops, args.seed)
    fleet = RouteRegion(
        depot=Depot(lat=52.52, lon=13.405),
        vehicles=args.vehicles,
        vehicle_volume_l=10_000,
        vehicle_kg=3_000,
        speed_kmh=25,
        shift_hours=10,
    )
    print(f"{args.stops} stops, {args.vehicles} vehicles")
    print("| solver time limit s | wall time s | served | unassigned | total km | late stops |")
    print("|---|---|---|---|---|---|")
    for limit in args.limits:
        began = time.perf_counter()
        plan = plan_routes(
            "bench", stops, fleet, start=START, service_minutes=4, time_limit_s=limit
        )
        wall = time.perf_counter() - began
        served = [s for route in plan.vehicles for s in route.stops]
        late = sum(1 for s in served if s.eta > s.due_by)
        km = sum(route.distance_km for route in plan.vehicles)
        print(
            f"| {limit:g} | {wall:.2f} | {len(served)} | {len(plan.unassigned)} | "
            f"{km:.1f} | {late} |"
        )


if __name__ == "__main__":
    main()
