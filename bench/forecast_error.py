"""Forecast error on a simulated fleet with noisy fill sensors.

Each bin gets the simulator's world: visitors arriving as a Poisson process with the
daily and weekly rhythm of ``simulator.world.arrivals``, one to three items each with
log-normal bulk volumes, a popularity factor per bin. The container (240 L) is read
every 5 minutes by a noisy sensor (Gaussian noise of ``--noise`` % fill, plus
``--outliers`` of readings replaced by a wall echo anywhere in 0-100 % or by 0 %).
When the true fill reaches ``--full`` % the bin is emptied after a crew delay of
2-12 h (full bins take no deposits), and a new cycle starts.

For every cycle after ``--warmup-days`` the forecast is made at fixed horizons before
the actual full time (48, 24, 12 and 6 h), from the readings since the emptying and,
as the bridge does, an activity profile learned from the deposits of the preceding
28 days. The error is |predicted - actual| in hours; the band's coverage is how often
the actual time fell inside p10-p90.

    .venv/bin/python bench/forecast_error.py --bins 200 --days 42
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cloud_bridge.domain.forecast import FillSample, forecast_full, learn_profile
from simulator.world.trajectories import START, simulate_bin

HORIZONS_H = (48.0, 24.0, 12.0, 6.0)


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0-1) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Tally:
    """Errors and band hits for one horizon and one profile setting."""

    errors: list[float] = field(default_factory=list)
    inside: int = 0
    missing: int = 0

    def add(self, predicted: datetime | None, low: datetime | None, high: datetime | None,
            actual: datetime) -> None:  # fmt: skip
        if predicted is None:
            self.missing += 1
            return
        self.errors.append(abs((predicted - actual).total_seconds()) / 3600.0)
        if low is not None and low <= actual and (high is None or actual <= high):
            self.inside += 1


def evaluate(args: argparse.Namespace) -> dict[tuple[str, float], Tally]:
    """Forecast every cycle at every horizon, with and without the learned profile."""
    tallies: dict[tuple[str, float], Tally] = {}
    warmup = START + timedelta(days=args.warmup_days)
    for index in range(args.bins):
        trajectory = simulate_bin(
            args.seed * 10_000 + index,
            args.days,
            full_pct=args.full,
            noise_pct=args.noise,
            outliers=args.outliers,
        )
        for cycle in trajectory.cycles:
            if cycle.full_at is None or cycle.emptied_at < warmup:
                continue
            for horizon in HORIZONS_H:
                at = cycle.full_at - timedelta(hours=horizon)
                if at <= cycle.emptied_at + timedelta(hours=1):
                    continue
                readings = [FillSample(r.at, r.fill_pct) for r in cycle.readings if r.at <= at]
                closed = [(lo, min(hi, at)) for lo, hi in trajectory.locked if lo < at]
                profile = learn_profile(trajectory.deposits, now=at, closed=closed)
                for label, used in (("profile", profile), ("linear", None)):
                    result = forecast_full(readings, now=at, full_pct=args.full, profile=used)
                    tally = tallies.setdefault((label, horizon), Tally())
                    tally.add(result.predicted_full_at, result.low, result.high, cycle.full_at)
    return tallies


def main() -> None:
    """Print the error table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bins", type=int, default=200)
    parser.add_argument("--days", type=float, default=42.0)
    parser.add_argument("--warmup-days", type=float, default=14.0)
    parser.add_argument("--full", type=float, default=95.0)
    parser.add_argument("--noise", type=float, default=1.5, help="sensor noise, %% fill (sd)")
    parser.add_argument("--outliers", type=float, default=0.03, help="share of wild readings")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    tallies = evaluate(args)
    elapsed = time.perf_counter() - started
    print(
        f"{args.bins} bins, {args.days:g} days, full at {args.full:g} %, noise sd "
        f"{args.noise:g} %, outliers {args.outliers:.0%}, cycles after day {args.warmup_days:g}"
    )
    print(
        "| forecast | made before full | cycles | median error h | p90 error h | p10-p90 covers |"
    )
    print("|---|---|---|---|---|---|")
    for (label, horizon), tally in sorted(tallies.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        count = len(tally.errors)
        print(
            f"| {label} | {horizon:g} h | {count + tally.missing} | "
            f"{statistics.median(tally.errors):.2f} | {percentile(tally.errors, 0.9):.2f} | "
            f"{tally.inside / max(count, 1):.0%} |"
            + (f" ({tally.missing} without a prediction)" if tally.missing else "")
        )
    print(f"computed in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
