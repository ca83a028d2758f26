"""Route planning: capacity (volume and kg) and due times hold; what cannot be served is named."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from cloud_bridge.cli.tables import routes_table
from cloud_bridge.config.routing import Depot, RouteRegion
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.planning.routes import RouteStop, haversine_km, plan_routes, stops_for_region
from cloud_bridge.store.sqlite.store import SQLiteStore
from tests.support import bin_messages as msg

START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
DEPOT = Depot(lat=52.52, lon=13.405)


def stops(count: int, seed: int = 1, **overrides: object) -> list[RouteStop]:
    rng = random.Random(seed)
    made = []
    for i in range(count):
        values: dict[str, object] = {
            "pickup_id": f"pk-{i:03d}",
            "bin_id": f"bin-{i:03d}",
            "lat": DEPOT.lat + rng.uniform(-0.05, 0.05),
            "lon": DEPOT.lon + rng.uniform(-0.08, 0.08),
            "volume_l": rng.uniform(150, 240),
            "kg": rng.uniform(10, 60),
            "due_by": START + timedelta(hours=rng.uniform(2, 9)),
            "priority": "normal",
        }
        values.update(overrides)
        made.append(RouteStop(**values))  # type: ignore[arg-type]
    return made


def test_haversine_is_the_great_circle_distance() -> None:
    # Berlin to Munich, about 504 km
    assert float(haversine_km(52.52, 13.405, 48.137, 11.575)) == pytest.approx(504, abs=2)


def test_routes_respect_capacity_and_due_times() -> None:
    fleet = RouteRegion(
        depot=DEPOT, vehicles=3, vehicle_volume_l=2000, vehicle_kg=400, speed_kmh=25
    )
    work = stops(40)
    plan = plan_routes("north", work, fleet, start=START, service_minutes=5, time_limit_s=2)
    served = [s for route in plan.vehicles for s in route.stops]
    assert plan.vehicles
    assert len(served) + len(plan.unassigned) == 40
    assert {s.pickup_id for s in served} | {u.pickup_id for u in plan.unassigned} == {
        s.pickup_id for s in work
    }
    for route in plan.vehicles:
        assert route.load_l <= 2000 + 1e-6
        assert route.load_kg <= 400 + 1e-6
        assert [s.order for s in route.stops] == list(range(1, len(route.stops) + 1))
        previous = START
        for s in route.stops:
            assert s.eta <= s.due_by
            assert s.eta >= previous
            previous = s.eta
        assert route.stops[-1].cumulative_km < route.distance_km
        assert route.back_at <= START + timedelta(hours=fleet.shift_hours)
    # 40 bins of ~195 L do not fit in 3 x 2,000 L: some are left, with a reason
    assert plan.unassigned
    assert all(u.reason for u in plan.unassigned)


def test_urgent_stops_are_kept_before_normal_ones() -> None:
    fleet = RouteRegion(depot=DEPOT, vehicles=1, vehicle_volume_l=1000, vehicle_kg=1000)
    work = stops(10, volume_l=200.0, kg=10.0)
    work[7] = dataclasses.replace(work[7], priority="urgent")
    plan = plan_routes("north", work, fleet, start=START, service_minutes=5, time_limit_s=1)
    served = {s.pickup_id for route in plan.vehicles for s in route.stops}
    assert len(served) == 5  # 1,000 L / 200 L
    assert "pk-007" in served


def test_a_stop_nobody_can_take_is_reported_with_why() -> None:
    fleet = RouteRegion(depot=DEPOT, vehicles=2, vehicle_volume_l=500, vehicle_kg=100)
    work = [
        *stops(2, volume_l=100.0, kg=10.0),
        RouteStop("pk-big", "bin-big", DEPOT.lat, DEPOT.lon + 0.01, 800.0, 10.0,
                  START + timedelta(hours=5), "normal"),
        RouteStop("pk-soon", "bin-soon", DEPOT.lat + 0.3, DEPOT.lon, 50.0, 5.0,
                  START + timedelta(minutes=10), "normal"),
    ]  # fmt: skip
    plan = plan_routes("north", work, fleet, start=START, service_minutes=5, time_limit_s=1)
    reasons = {u.pickup_id: u.reason for u in plan.unassigned}
    assert reasons == {
        "pk-big": "larger than a vehicle's capacity",
        "pk-soon": "due before a vehicle can reach it",
    }


def test_overdue_stops_are_served_first_not_dropped() -> None:
    fleet = RouteRegion(depot=DEPOT, vehicles=1)
    work = stops(6)
    late = RouteStop("pk-late", "bin-late", DEPOT.lat + 0.02, DEPOT.lon, 100.0, 10.0,
                     START - timedelta(hours=2), "high")  # fmt: skip
    plan = plan_routes("north", [*work, late], fleet, start=START, service_minutes=5,
                       time_limit_s=1)  # fmt: skip
    (route,) = plan.vehicles
    assert route.stops[0].pickup_id == "pk-late"
    assert plan.unassigned == []


def test_stops_come_from_the_open_pickups_of_the_region() -> None:
    store = SQLiteStore(":memory:")
    settings = validate_settings(
        {"routing": {"container_l": {"bin-001": 1000}, "default_container_l": 240}}
    )
    processor = Processor(settings, store, lambda: START)
    batch = [
        msg.state("bin-001", 1, region="north"),
        msg.deposit("bin-001", 2, "glass", grams=30_000),
        msg.telemetry("bin-001", 3, 90.0, weight=12.0),
        msg.state("bin-002", 1, region="north", lat=None, lon=None),
        msg.telemetry("bin-002", 2, 85.0),
        msg.state("bin-003", 1, region="south"),
        msg.telemetry("bin-003", 2, 85.0),
    ]
    processor.process([Inbound(topic, payload) for topic, payload in batch])
    found, missing = stops_for_region(store, settings.routing, "north")
    (stop,) = found
    assert stop.bin_id == "bin-001"
    assert stop.volume_l == pytest.approx(900.0)  # 90 % of its 1,000 L container
    assert stop.kg == pytest.approx(30.0)  # the manifest outweighs the scale's 12 kg
    assert [(m.bin_id, m.reason) for m in missing] == [("bin-002", "bin has no location")]
    store.close()


@pytest.mark.parametrize("width", [100, 125, 200])
def test_the_routes_table_keeps_a_stop_on_one_line_and_its_ids_whole(width: int) -> None:
    fleet = RouteRegion(depot=DEPOT, vehicles=2, vehicle_volume_l=2000, vehicle_kg=400)
    work = [
        dataclasses.replace(s, pickup_id=f"pk-{i:024x}", bin_id=f"bin-north-{i:04d}")
        for i, s in enumerate(stops(4))
    ]
    plan = plan_routes("north", work, fleet, start=START, service_minutes=5, time_limit_s=1)
    console = Console(width=width, record=True)
    console.print(routes_table(plan))
    lines = console.export_text().splitlines()
    for stop in work:  # one line per stop, with the whole ids a dispatcher types
        (line,) = [line for line in lines if stop.bin_id in line]
        assert stop.pickup_id in line
    if width >= 125:  # wide enough: times (with their date and month) and loads whole too
        served = [s for route in plan.vehicles for s in route.stops]
        for s in served:
            (line,) = [line for line in lines if s.bin_id in line]
            assert s.eta.strftime("%d %b %H:%M") in line
            assert f"{s.load_l:.0f} / {s.load_kg:.1f}" in line
