"""The bin page's fill chart as SVG geometry, computed on the server.

Drawn server-side so the page needs no script for it (the CSP allows no inline script,
and a chart that is plain markup also prints and reads without JavaScript). The
template turns these numbers into ``<polyline>``, ``<polygon>``, ``<line>`` and
``<text>``; every mark carries a letter and a title, so nothing is told by colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cloud_bridge.views.bin_page import History

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 30
"""The plot area's margins inside the SVG's viewBox (axis labels live there)."""

LONGEST_AHEAD = timedelta(days=7)
"""The chart never reaches further into the future than this (a far forecast is cut)."""


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis label at a position."""

    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class ChartMark:
    """A lettered vertical marker (emptied, pickup requested, collection scheduled)."""

    x: float
    letter: str
    title: str


@dataclass
class Chart:
    """What the template draws; ``empty`` when there is no reading to draw."""

    width: int = WIDTH
    height: int = HEIGHT
    empty: bool = True
    line: str = ""
    band: str = ""
    forecast_line: tuple[float, float, float, float] | None = None
    full_y: float | None = None
    now_x: float = 0.0
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    marks: list[ChartMark] = field(default_factory=list)
    summary: str = ""
    """The chart in words (its accessible name)."""


def fill_chart(history: History) -> Chart:
    """Scale the history into the plot area: time left to right (up to the forecast's
    p90, at most :data:`LONGEST_AHEAD`), fill 0-100 % bottom to top."""
    chart = Chart()
    now = history.now
    if not history.points:
        chart.summary = "No fill readings in the last 7 days."
        return chart
    chart.empty = False
    forecast = history.forecast
    start = min([history.points[0][0], *(m.at for m in history.marks if m.at <= now)])
    ahead = [m.at for m in history.marks]
    if forecast is not None:
        ahead += [t for t in (forecast.predicted_full_at, forecast.high) if t is not None]
    end = min(max([now, *ahead]), now + LONGEST_AHEAD)
    span = max((end - start).total_seconds(), 3600.0)
    end = start + timedelta(seconds=span * 1.03)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        at = min(max(at, start), end)
        return round(
            LEFT + (at - start).total_seconds() / (end - start).total_seconds() * plot_w, 1
        )

    def y(pct: float) -> float:
        return round(TOP + (1 - min(max(pct, 0.0), 100.0) / 100.0) * plot_h, 1)

    chart.line = " ".join(f"{x(at)},{y(pct)}" for at, pct in history.points)
    chart.now_x = x(now)
    last = history.points[-1][1]
    parts = [f"{len(history.points)} readings, now {last:.0f} %"]
    if forecast is not None and forecast.predicted_full_at is not None:
        level = forecast.level_pct if forecast.level_pct is not None else last
        full = forecast.full_pct
        chart.full_y = y(full)
        low, high = forecast.low or forecast.predicted_full_at, forecast.high
        high = high or forecast.predicted_full_at
        chart.band = f"{x(now)},{y(level)} {x(low)},{y(full)} {x(high)},{y(full)}"
        chart.forecast_line = (x(now), y(level), x(forecast.predicted_full_at), y(full))
        parts.append(f"full ({full:.0f} %) predicted {forecast.predicted_full_at:%d %b %H:%M}")
    chart.marks = [
        ChartMark(x(m.at), m.letter, f"{m.label} {m.at:%d %b %H:%M}") for m in history.marks
    ]
    chart.x_ticks = [
        Tick(x(start + (end - start) * i / 4), f"{start + (end - start) * i / 4:%d %b %H:%M}")
        for i in range(5)
    ]
    chart.y_ticks = [Tick(y(pct), f"{pct} %") for pct in (0, 25, 50, 75, 100)]
    chart.summary = "Fill over time: " + "; ".join(parts) + "."
    return chart
