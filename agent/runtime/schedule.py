"""When each periodic task of the runtime is due next, on the monotonic clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_config.schema import Intervals

CHECK_PERIOD_S = 30.0
"""How often storage, network and device health are looked at between operations."""
TEMPERATURE_MAX_PERIOD_S = 30.0
"""The temperature is sampled at least this often (the fire alarm must not wait for a
slow fill period)."""


def task_periods(intervals: Intervals) -> dict[str, float]:
    """The period of each configured periodic task, in seconds."""
    return {
        "telemetry": intervals.telemetry_s,
        "health": intervals.health_s,
        "fill": intervals.fill_sample_s,
        "temperature": min(intervals.fill_sample_s, TEMPERATURE_MAX_PERIOD_S),
    }


@dataclass
class Schedule:
    """Next due time (monotonic seconds) of each periodic task."""

    due: dict[str, float] = field(default_factory=dict)

    def is_due(self, task: str, now: float) -> bool:
        """Whether ``task`` should run at ``now``."""
        return now >= self.due.get(task, 0.0)

    def after(self, task: str, now: float, period: float) -> None:
        """Schedule ``task`` again ``period`` seconds after ``now``."""
        self.due[task] = now + period

    def next(self) -> float:
        """The earliest due time of any task."""
        return min(self.due.values(), default=0.0)

    def bring_forward(self, periods: dict[str, float], now: float) -> None:
        """Shorten the wait of a task scheduled further ahead than its (new) period."""
        for task, period in periods.items():
            due = self.due.get(task)
            if due is not None and due > now + period:
                self.due[task] = now + period
