"""One policy on one city: the discrete-event loop on virtual seconds.

Events happen in time order: visitors come (their times fixed by the world), crews
empty bins at their planned arrival times, sensors read every ``sample_s``, and each
shift starts with the policy naming its stops. Between two rounds of readings the loop
first lets the crews' visits of the interval happen (each at its own time), then the
visitors, then reads the sensors and shows the policy the round; at a shift's start
it plans the shift's routes. No wall clock: the same seed gives the same figures.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.city.book import FillBook
from simulator.city.crews import Crews, FleetOptions, ShiftRoutes, Visit
from simulator.city.metrics import PolicyOutcome
from simulator.city.policies.base import Policy, RunContext
from simulator.city.sensors import Reporter, ReportingOptions
from simulator.city.world import DAY_S, CityWorld

Progress = Callable[[str, float], None]
"""Told the policy's name and the simulated days done so far."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How the city is run, apart from the world itself."""

    fleet: FleetOptions = field(default_factory=FleetOptions)
    reporting: ReportingOptions = field(default_factory=ReportingOptions)
    warmup_days: float = 0.0
    """Simulated before the measured period (collections and overflows not counted)."""


def run_policy(
    world: CityWorld,
    factory: Callable[[RunContext], Policy],
    options: RunOptions,
    progress: Progress | None = None,
) -> PolicyOutcome:
    """Run one policy on ``world`` from its first to its last reading."""
    began = time.perf_counter()
    sample_s = world.options.sample_s
    fleet = options.fleet
    if (fleet.shift_start_h * 3600) % sample_s:
        raise ValueError(f"the shift must start on a reading ({sample_s:g} s grid)")
    book = FillBook(world, measure_from=options.warmup_days * DAY_S)
    crews = Crews(world, fleet)
    context = RunContext(world, book, crews, fleet, options.reporting)
    policy = factory(context)
    reporter = Reporter(world, options.reporting)
    shifts: list[ShiftRoutes] = []
    pending: list[tuple[float, int, Visit]] = []
    order = 0
    days = int(world.options.days)
    shift_rounds = {round(fleet.shift_start(day) / sample_s): day for day in range(days)}
    rounds = world.options.samples
    try:
        for sample in range(1, rounds + 1):
            now = sample * sample_s
            while pending and pending[0][0] <= now:
                _, _, visit = heapq.heappop(pending)
                policy.emptied(visit, book.collect(visit.bin, visit.at))
            deposits = book.advance(now)
            readings = reporter.read(sample - 1, now, book.fill_pct())
            policy.observe(readings, deposits)
            day = shift_rounds.get(sample)
            if day is not None:
                shift, plan = crews.plan(day, policy.stops(day))
                policy.dispatched(shift, plan)
                shifts.append(shift)
                for visit in shift.visits:
                    heapq.heappush(pending, (visit.at, order, visit))
                    order += 1
            if progress is not None and sample % max(1, rounds // 200) == 0:
                progress(policy.name, now / DAY_S)
        end = rounds * sample_s
        book.finish(end)
        notes = policy.notes()
    finally:
        policy.close()
    return PolicyOutcome(
        name=policy.name,
        collections=book.collections,
        overflows=book.overflows,
        turned_away=book.turned_away,
        shifts=shifts,
        measure_from=book.measure_from,
        end=end,
        co2e_kg_per_km=fleet.co2e_kg_per_km,
        wall_s=time.perf_counter() - began,
        notes=notes,
    )
