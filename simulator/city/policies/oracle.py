"""``oracle``: knows when every bin will be full and collects it on the last shift that can.

The lower bound the other policies are measured against. It reads the future from the
world (the deposits still to come), so it never guesses: at each shift's start a bin is
put on the round only if it would otherwise be full before the next shift could reach
it (``reach_h`` after that shift starts), and it must be reached before it is full
(its due time). Every collection is as late as possible, so there are as few as
possible, with full containers; the routes come from the same planner as everyone's.
"""

from __future__ import annotations

from cloud_bridge.planning.routes import RouteStop
from simulator.city.policies.base import Policy, RunContext
from simulator.city.world import HOUR_S


class OraclePolicy(Policy):
    """Perfect foresight: each bin on the last shift before it would overflow."""

    name = "oracle"

    def __init__(self, context: RunContext, *, reach_h: float = 1.0) -> None:
        super().__init__(context)
        self.reach_s = reach_h * HOUR_S

    def stops(self, day: int) -> list[RouteStop]:
        """The bins that would be full before tomorrow's crews could come."""
        book = self.book
        crews = self.crews
        start = self.context.fleet.shift_start(day)
        end = crews.shift_end(day)
        tomorrow = self.context.fleet.shift_start(day + 1) + self.reach_s
        stops: list[RouteStop] = []
        for index in range(self.world.size):
            full_at = book.full_at(index)
            if full_at >= tomorrow:
                continue
            due = min(max(full_at, start), end)
            litres = book.litres_at(index, end)
            priority = "high" if full_at < end else "normal"
            stops.append(crews.stop(index, f"oracle-{day}-{index}", litres, due, priority))
        return stops
