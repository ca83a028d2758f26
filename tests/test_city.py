"""``bin-sim city``: each policy's bookkeeping on tiny worlds whose answers are known by
hand, the same figures for the same seed, and ``revloop`` running the bridge's own
pickup service (a copy of it would not be what these figures measure)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cloud_bridge.services.pickups import PickupService
from protocol import Telemetry
from simulator.city.book import FillBook
from simulator.city.crews import Crews, FleetOptions
from simulator.city.policies import POLICIES, RunContext
from simulator.city.policies.fixed import FixedPolicy, feasible_calendars
from simulator.city.runner import CityOptions, run_city
from simulator.city.sensors import ReportingOptions
from simulator.city.sim import RunOptions, run_policy
from simulator.city.world import DAY_S, HOUR_S, CityWorld, WorldOptions
from simulator.cli import cli
from simulator.world.trajectories import SensorModel

CENTRE = (52.52, 13.405)


def tiny_world(
    deposits: list[list[tuple[float, float]]],
    *,
    days: float = 3.0,
    container_l: float = 100.0,
    initial_l: float = 0.0,
    litres_per_day: float = 24.0,
) -> CityWorld:
    """Bins a few hundred metres from the depot, with these (hour, litres) deposits, a
    sensor without noise or wild readings that never fails."""
    options = WorldOptions(
        bins=len(deposits), days=days, sensor=SensorModel(0.0, 0.0), outage_per_bin_day=0.0
    )
    n = len(deposits)
    samples = options.samples
    times = [np.array([hour * HOUR_S for hour, _ in bin_deposits]) for bin_deposits in deposits]
    litres = [np.array([amount for _, amount in bin_deposits]) for bin_deposits in deposits]
    counts = np.array([len(t) for t in times], dtype=np.int64)
    return CityWorld(
        options=options,
        bin_ids=[f"city-{i:05d}" for i in range(n)],
        lat=np.array([CENTRE[0] + 0.002 * i for i in range(n)]),
        lon=np.full(n, CENTRE[1]),
        container_l=np.full(n, container_l),
        litres_per_day=np.full(n, litres_per_day),
        initial_l=np.full(n, initial_l),
        depot=(CENTRE[0] - 0.01, CENTRE[1]),
        dep_t=np.concatenate(times),
        dep_l=np.concatenate(litres),
        dep_bin=np.repeat(np.arange(n, dtype=np.int64), counts),
        first=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        draw=np.ones((n, samples)),
        echo=np.zeros((n, samples)),
        gauss=np.zeros((n, samples)),
        sensor_ok=np.ones((n, samples), dtype=np.bool_),
    )


def hourly(litres: float, hours: int, start: int = 1) -> list[tuple[float, float]]:
    """A deposit of ``litres`` every hour from hour ``start``."""
    return [(float(hour), litres) for hour in range(start, start + hours)]


def test_the_book_counts_fill_an_overflow_and_the_visitors_turned_away() -> None:
    world = tiny_world([hourly(10.0, 12)])  # 10 L an hour into 100 L, full at 95 L
    book = FillBook(world)
    book.advance(9.5 * HOUR_S)
    assert book.litres()[0] == pytest.approx(90.0)
    assert book.full_at(0) == 10 * HOUR_S  # the tenth drop brings it to 100 L
    book.advance(11.2 * HOUR_S)
    assert bool(book.full()[0])
    assert book.litres()[0] == pytest.approx(100.0)  # capped: the 11th visitor went away
    collection = book.collect(0, 11.5 * HOUR_S)
    assert collection.fill_pct == pytest.approx(100.0)
    assert collection.litres == pytest.approx(100.0)
    assert book.overflows == [(0, 10 * HOUR_S, 11.5 * HOUR_S)]  # 1.5 bin-hours
    assert book.turned_away == 1
    book.advance(12.5 * HOUR_S)
    assert book.litres()[0] == pytest.approx(10.0)  # the 12th drop went into the empty bin
    took = book.took(np.arange(12))
    assert took.tolist() == [True] * 10 + [False, True]


def test_a_warm_up_is_not_counted() -> None:
    world = tiny_world([hourly(10.0, 12)])
    book = FillBook(world, measure_from=11.1 * HOUR_S)
    book.advance(11.2 * HOUR_S)
    book.collect(0, 11.5 * HOUR_S)
    assert book.overflows == [(0, 11.1 * HOUR_S, 11.5 * HOUR_S)]  # from the warm-up's end
    assert book.turned_away == 0  # the 11th visitor came at 11:00, in the warm-up
    assert len(book.collections) == 1  # 11:30 is measured


def test_the_fixed_calendar_has_the_fewest_visits_that_keep_an_average_week_under_full() -> None:
    # 1 L an hour into a bin full at 95 L: a gap of 4 days (96 L) overflows, 3 days do not
    calendars = feasible_calendars(np.ones(168), 95.0, 10.0)
    assert all(len(days) == 3 for days in calendars)
    assert (0, 2, 4) in calendars  # gaps of 2, 2 and 3 days
    assert (0, 1, 3) not in calendars  # a gap of 4 days (Thursday to Monday)
    assert feasible_calendars(np.ones(168), 500.0, 10.0)[0] == (0,)  # slow: once a week
    assert feasible_calendars(np.full(168, 10.0), 95.0, 10.0) == [tuple(range(7))]


def one_policy(world: CityWorld, name: str, **run: float) -> dict[str, float]:
    options = RunOptions(fleet=FleetOptions(vehicles=1), **run)  # type: ignore[arg-type]
    summary: dict[str, float] = run_policy(world, POLICIES[name], options).summary()
    return summary


def test_fixed_empties_every_bin_on_its_calendar_whatever_its_fill() -> None:
    # Known as 24 L a day into 100 L (95 L in ~4 days) with the weekly rhythm: the
    # average week stays under 95 L with visits on Monday and Friday (quiet weekdays
    # between them, the busy weekend in the shorter gap)
    world = tiny_world([hourly(0.9, 7 * 24)], days=7.0)
    context = RunContext(
        world, FillBook(world), Crews(world, FleetOptions()), FleetOptions(), ReportingOptions()
    )
    assert FixedPolicy(context).calendar == [(0, 4)]
    outcome = run_policy(world, POLICIES["fixed"], RunOptions(fleet=FleetOptions(vehicles=1)))
    # Monday 06:0x finds 6 drops, Friday 06:0x the 96 since (86.4 L), whatever they are
    assert outcome.fills() == [pytest.approx(5.4), pytest.approx(86.4)]
    assert [c.at // DAY_S for c in outcome.collections] == [0, 4]
    assert outcome.summary()["overflow_bin_hours"] == 0.0


def test_threshold_collects_at_the_next_shift_after_the_crossing() -> None:
    # 5 L an hour from 01:00: 80 % at 16:00 on day 0, full (95 %) at 19:00
    world = tiny_world([hourly(5.0, 30)], days=2.0)
    summary = one_policy(world, "threshold")
    assert summary["collections"] == 1  # on day 1's shift, after a night standing full
    assert summary["mean_fill_at_collection"] == pytest.approx(95.0)  # 19 drops
    assert summary["turned_away"] == 11  # the drops of 20:00 to 06:00 went away
    assert 11.0 < summary["overflow_bin_hours"] < 11.5  # 19:00 until the crew at ~06:0x


def test_the_oracle_collects_on_the_last_shift_before_the_bin_would_overflow() -> None:
    # 2 L an hour: 95 L at hour 48 (day 2, 00:00): too late for day 2's crews, so day 1
    world = tiny_world([hourly(2.0, 70)], days=3.0)
    summary = one_policy(world, "oracle")
    assert summary["collections"] == 1
    assert summary["overflow_bin_hours"] == 0.0
    # emptied early on day 1's shift: 30 drops (01:00 to 06:00 of day 1) = 60 %
    assert 58.0 <= summary["mean_fill_at_collection"] <= 62.0


def test_revloop_runs_the_bridges_own_pickup_service(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    original = PickupService.on_telemetry

    def counting(self: PickupService, record: object, telemetry: Telemetry) -> None:
        calls.append(telemetry.fill_pct or 0.0)
        original(self, record, telemetry)  # type: ignore[arg-type]

    monkeypatch.setattr(PickupService, "on_telemetry", counting)
    # 3 L an hour: 80 % at hour 27 (day 1, 03:00), full at hour 32: a threshold pickup
    # at 03:00 is due by 06:00 at the latest, so day 1's crew takes it
    world = tiny_world([hourly(3.0, 60)], days=3.0)
    outcome = run_policy(world, POLICIES["revloop"], RunOptions(fleet=FleetOptions(vehicles=1)))
    assert calls, "revloop did not run PickupService.on_telemetry"
    assert max(calls) >= 80.0
    summary = outcome.summary()
    assert summary["collections"] >= 1
    reasons = outcome.notes["pickups_by_reason"]
    assert sum(reasons.values()) >= 1
    assert outcome.notes["scheduled"] >= 1
    assert outcome.collections[0].fill_pct < 95.0  # before it was full


def test_revloop_routes_the_pickups_the_bridge_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    from cloud_bridge.planning import routes

    routed: list[int] = []
    original = routes.stops_for_region

    def spy(*args: Any, **kwargs: Any) -> Any:
        stops, missing = original(*args, **kwargs)
        routed.append(len(stops))
        return stops, missing

    monkeypatch.setattr("simulator.city.policies.revloop.stops_for_region", spy)
    world = tiny_world([hourly(3.0, 60)], days=3.0)
    outcome = run_policy(world, POLICIES["revloop"], RunOptions(fleet=FleetOptions(vehicles=1)))
    # day 1's round takes the pickup opened in the night (80 % at 03:00); by day 2's
    # round the bin is at 72 % again and forecast full that afternoon: taken too
    assert routed == [0, 1, 1]
    assert [c.at // DAY_S for c in outcome.collections] == [1, 2]
    assert max(c.fill_pct for c in outcome.collections) < 95.0  # never full


def small_city(jobs: int, seed: int = 3) -> dict[str, dict[str, object]]:
    options = CityOptions(
        world=WorldOptions(bins=25, days=5.0, seed=seed),
        run=RunOptions(warmup_days=1.0),
        jobs=jobs,
    )
    summaries = run_city(options).summaries()
    for summary in summaries.values():
        summary.pop("wall_s")
    return summaries


@pytest.mark.slow
def test_the_same_seed_gives_the_same_figures_in_one_process_or_two() -> None:
    first = small_city(jobs=1)
    assert small_city(jobs=1) == first
    assert small_city(jobs=2) == first
    assert small_city(jobs=1, seed=4) != first
    assert set(first) == {"fixed", "threshold", "revloop", "oracle"}


@pytest.mark.slow
def test_the_command_prints_json_and_writes_the_charts(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["city", "--bins", "12", "--days", "2", "--warmup-days", "1", "--jobs", "1"]
    result = runner.invoke(cli, [*args, "--json", "--plots", str(tmp_path / "charts")])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(figures) == ["fixed", "threshold", "revloop", "oracle"]
    for summary in figures.values():
        for key in ("collections", "km", "overflow_bin_hours", "turned_away"):
            assert isinstance(summary[key], int | float)
        assert "mean_fill_at_collection" in summary
    names = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert names == ["fill_at_collection.png", "km_per_day.png", "overflow_over_time.png"]
    table = runner.invoke(cli, [*args, "--policies", "fixed,oracle"])
    assert table.exit_code == 0, table.output
    assert "overflow bin-hours" in table.stdout
    unknown = runner.invoke(cli, [*args, "--policies", "fixed,guess"])
    assert unknown.exit_code == 1
    assert "unknown policies: guess" in unknown.output


def test_every_day_has_its_shift_on_the_reading_grid() -> None:
    fleet = FleetOptions()
    assert fleet.shift_start(2) == 2 * DAY_S + 6 * HOUR_S
    assert math.isclose(fleet.region((52.5, 13.4)).speed_kmh * fleet.circuity, fleet.speed_kmh)
