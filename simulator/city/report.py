"""What ``bin-sim city`` shows: a progress bar while it runs, then the table (or JSON)
and the charts. Kept apart from the runner so that only the command needs rich."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.city.crews import FleetOptions
from simulator.city.metrics import table_rows
from simulator.city.runner import CityOptions, CityResult, run_city
from simulator.city.sim import RunOptions
from simulator.city.world import WorldOptions


def run_and_report(
    *,
    bins: int,
    days: float,
    warmup_days: float,
    seed: int,
    policies: tuple[str, ...],
    vehicles: int,
    co2e_per_km: float,
    jobs: int,
    as_json: bool,
    plots_dir: Path | None,
) -> CityResult:
    """Run the city with a progress bar on stderr; print the table (or the JSON)."""
    total = days + warmup_days
    options = CityOptions(
        world=WorldOptions(bins=bins, days=total, seed=seed),
        run=RunOptions(
            fleet=dataclasses.replace(
                FleetOptions(), vehicles=vehicles, co2e_kg_per_km=co2e_per_km
            ),
            warmup_days=warmup_days,
        ),
        policies=policies,
        jobs=jobs,
    )
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=as_json) as progress:
        tasks = {name: progress.add_task(name, total=total) for name in policies}

        def tell(name: str, done: float) -> None:
            progress.update(tasks[name], completed=done)

        result = run_city(options, tell)
        for name in policies:
            progress.update(tasks[name], completed=total)
    summaries = result.summaries()
    if as_json:
        click.echo(json.dumps(summaries))
    else:
        out = Console()
        title = f"{bins:,} bins, {days:g} days (after {warmup_days:g} days' warm-up), seed {seed}"
        table = Table(title=title)
        table.add_column("")
        for name in summaries:
            table.add_column(name, justify="right")
        for row in table_rows(summaries):
            table.add_row(*row)
        out.print(table)
        out.print(
            f"{result.wall_s:.0f} s in all ({result.wall_s / result.bin_days * 1000:.1f} ms per "
            f"bin-day); the world took {result.world_s:.1f} s"
        )
    if plots_dir is not None:
        from simulator.city.plots import write_plots

        for path in write_plots(result.outcomes, plots_dir):
            console.print(f"wrote {path}")
    return result
