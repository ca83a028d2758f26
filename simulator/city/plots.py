"""``bin-sim city --plots DIR``: the run's charts as PNG files (matplotlib, no display).

- ``fill_at_collection.png``: how full bins were when emptied, per policy (histogram);
- ``overflow_over_time.png``: bins standing full, per hour, per policy;
- ``km_per_day.png``: road kilometres driven each day, per policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulator.city.metrics import PolicyOutcome

COLOURS = {"fixed": "#7f7f7f", "threshold": "#ff7f0e", "revloop": "#1f77b4", "oracle": "#2ca02c"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as err:
        raise RuntimeError(
            "--plots needs matplotlib: pip install 'revloop[plots]' (or matplotlib)"
        ) from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(outcomes: dict[str, PolicyOutcome], directory: Path) -> list[Path]:
    """Write the three charts into ``directory`` (made if missing); return their paths."""
    plt = _pyplot()
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    figure, axes = plt.subplots(figsize=(8, 4.5))
    bins = [i * 5 for i in range(21)]
    for name, outcome in outcomes.items():
        label = f"{name} ({len(outcome.collections):,})"
        colour = COLOURS.get(name)
        axes.hist(outcome.fills(), bins=bins, histtype="step", label=label, color=colour)
    axes.set_xlabel("fill at collection, % of the container")
    axes.set_ylabel("collections")
    axes.set_title("How full bins were when emptied")
    axes.legend()
    written.append(_save(figure, directory / "fill_at_collection.png", plt))

    figure, axes = plt.subplots(figsize=(9, 4.5))
    for name, outcome in outcomes.items():
        series = outcome.overflow_by_hour()
        days = [hour / 24 for hour in range(len(series))]
        axes.plot(days, series, linewidth=1.0, label=name, color=COLOURS.get(name))
    axes.set_xlabel("day of the measured period")
    axes.set_ylabel("bins standing full")
    axes.set_title("Overflow over time")
    axes.legend()
    written.append(_save(figure, directory / "overflow_over_time.png", plt))

    figure, axes = plt.subplots(figsize=(9, 4.5))
    for name, outcome in outcomes.items():
        per_day = outcome.km_by_day()
        axes.plot([day for day, _ in per_day], [km for _, km in per_day], marker="o",
                  markersize=3, linewidth=1.2, label=name, color=COLOURS.get(name))  # fmt: skip
    axes.set_xlabel("day of the run")
    axes.set_ylabel("road km")
    axes.set_title("Kilometres driven per day")
    axes.legend()
    written.append(_save(figure, directory / "km_per_day.png", plt))
    return written


def _save(figure: Any, path: Path, plt: Any) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
