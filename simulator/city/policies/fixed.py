"""``fixed``: every bin emptied on a weekly calendar, the best a city does without sensors.

Each bin's calendar is set from its average fill rate (what a city knows from years of
collecting it): the fewest weekly visits, on the weekdays that keep the *average* week
from ever filling it (to ``full_pct``) between two visits, taking the weekly rhythm into
account (the weekend fills more). Among the calendars with that many visits, a bin gets
the one whose weekdays are least loaded so far, so every day's round is about the same
size. Visits are planned at mid-shift; the crew plans every visit as a full container.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from cloud_bridge.planning.routes import RouteStop
from simulator.city.policies.base import Policy, RunContext
from simulator.city.world import FloatArray


def feasible_calendars(
    litres_per_hour: FloatArray, full_l: float, visit_hour: float
) -> list[tuple[int, ...]]:
    """The weekday sets (Monday 0) with the fewest visits that keep the average week
    under ``full_l``; every day when even daily visits do not."""
    two_weeks = np.concatenate(([0.0], np.cumsum(np.tile(litres_per_hour, 2))))
    hour = int(visit_hour)
    for visits in range(1, 8):
        found: list[tuple[int, ...]] = []
        for days in combinations(range(7), visits):
            worst = 0.0
            for position, day in enumerate(days):
                previous = days[position - 1] if position else days[-1] - 7
                since = previous * 24 + hour + 168  # a week later: no negative hours
                until = day * 24 + hour + 168
                worst = max(worst, float(two_weeks[until] - two_weeks[since]))
            if worst < full_l:
                found.append(days)
        if found:
            return found
    return [tuple(range(7))]


class FixedPolicy(Policy):
    """A weekly calendar per bin, set from its average fill rate."""

    name = "fixed"

    def __init__(self, context: RunContext) -> None:
        super().__init__(context)
        world = self.world
        fleet = context.fleet
        visit_hour = fleet.shift_start_h + fleet.shift_hours / 2
        options = [
            feasible_calendars(
                world.expected_litres_per_hour(i), float(world.full_l[i]), visit_hour
            )
            for i in range(world.size)
        ]
        load = np.zeros(7)
        self.calendar: list[tuple[int, ...]] = [()] * world.size
        for index in sorted(range(world.size), key=lambda i: (-len(options[i][0]), i)):
            best = min(options[index], key=lambda days: (float(load[list(days)].sum()), days))
            self.calendar[index] = best
            load[list(best)] += 1
        self._by_weekday = [
            [i for i, days in enumerate(self.calendar) if weekday in days] for weekday in range(7)
        ]

    def stops(self, day: int) -> list[RouteStop]:
        """The bins whose calendar has this weekday, planned as full containers."""
        due = self.crews.shift_end(day)
        return [
            self.crews.stop(i, f"fixed-{day}-{i}", float(self.world.container_l[i]), due)
            for i in self._by_weekday[day % 7]
        ]

    def visits_per_week(self) -> float:
        """Mean visits per bin and week."""
        return float(np.mean([len(days) for days in self.calendar]))
