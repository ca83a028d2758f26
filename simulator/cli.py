"""``bin-sim``: simulated bins, from one to a whole fleet, without any hardware."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from rich.console import Console

from simulator.runners.fleet import FleetOptions


def _options(bins: int, days: float, speed: float, seed: int, peak: float) -> FleetOptions:
    return FleetOptions(bins=bins, days=days, speed=speed, seed=seed, peak_per_hour=peak)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="revloop", prog_name="bin-sim")
def cli() -> None:
    """Run simulated Revloop bins: a demo fleet, a load-test fleet or a single bin."""


@cli.command("demo")
@click.option("--bins", default=12, show_default=True, type=click.IntRange(1, 500))
@click.option("--days", default=2.0, show_default=True, type=click.FloatRange(0.01, 60))
@click.option(
    "--speed",
    default=4000.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Virtual seconds per real second (0: as fast as possible).",
)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--peak", default=8.0, show_default=True, help="Visitors per hour at the peak.")
@click.option("--broker", help="Use this broker (mqtt://HOST:PORT) instead of an embedded one.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep the databases here.")
@click.option("--json", "as_json", is_flag=True, help="Print only the summary, as JSON.")
@click.option(
    "--contamination",
    default=0.04,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Mean share of each load's kg the facility finds misclassified.",
)
@click.option(
    "--discrepancy",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Standard deviation of a weigh-in's relative difference from the manifest.",
)
@click.option(
    "--drifting-bins",
    default=1,
    show_default=True,
    type=click.IntRange(0),
    help="How many bins (the first ones) load four times the contamination.",
)
def demo(
    bins: int,
    days: float,
    speed: float,
    seed: int,
    peak: float,
    broker: str | None,
    workdir: Path | None,
    as_json: bool,
    contamination: float,
    discrepancy: float,
    drifting_bins: int,
) -> None:
    """A fleet, the bridge and a collection crew on an embedded broker, faster than life."""
    from cloud_bridge.extras import bridge_extra_message, missing_bridge_packages

    missing = missing_bridge_packages()
    if missing:
        click.echo(f"error: the demo runs the bridge: {bridge_extra_message(missing)}", err=True)
        sys.exit(1)
    from simulator.runners.demo import run_demo, summary_table
    from simulator.runners.facility import FacilityOptions

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Alarms and faults of simulated bins are the demo's story, told through pickups;
    # the agents' own log lines would drown it.
    logging.getLogger("agent").setLevel(logging.ERROR)
    console = Console(stderr=as_json)
    if not as_json:
        console.print(
            f"[bold]Revloop demo[/bold]: {bins} bins, {days:g} days at {speed:g}x "
            f"on {'the broker at ' + broker if broker else 'an embedded broker'}"
        )
    try:
        result = run_demo(
            _options(bins, days, speed, seed, peak),
            broker_url=broker,
            workdir=workdir,
            console=console,
            quiet=as_json,
            facility=FacilityOptions(
                contamination=contamination,
                discrepancy=discrepancy,
                drifting=frozenset(f"sim-{i + 1:04d}" for i in range(min(drifting_bins, bins))),
                seed=seed,
            ),
        )
    except (RuntimeError, ValueError, OSError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(result.summary))
        return
    console.print(summary_table(result))
    console.print(
        f"The bridge stored {result.bridge_bins} bins and {result.bridge_pickups} pickups."
    )


@cli.command("fleet")
@click.option("--broker", required=True, help="The broker to load: mqtt://HOST:PORT.")
@click.option("--bins", default=50, show_default=True, type=click.IntRange(1, 2000))
@click.option("--days", default=1.0, show_default=True, type=click.FloatRange(0.001, 365))
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Virtual seconds per real second. At 1 the bins' clocks match a bridge's real clock.",
)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--peak", default=8.0, show_default=True, help="Visitors per hour at the peak.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep the agent databases here.")
def fleet(
    broker: str,
    bins: int,
    days: float,
    speed: float,
    seed: int,
    peak: float,
    workdir: Path | None,
) -> None:
    """Simulated bins (no bridge) against a broker, e.g. to load a separately run bridge.

    The fleet's clock starts at the current time; at --speed 1 its timestamps are
    real ones; at any other speed run the bridge with --clock-from-bins. A crew still
    empties bins when pickups arrive on fleet/v1/pickups/#. Prints the summary as JSON
    at the end.
    """
    from datetime import UTC, datetime

    from agent.clock import ManualClock
    from protocol.transport import parse_broker_url
    from simulator.runners.demo import work_directory
    from simulator.runners.fleet import FleetSim

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        endpoint = parse_broker_url(broker)
    except ValueError as err:
        click.echo(f"error: --broker: {err}", err=True)
        sys.exit(1)
    clock = ManualClock(start=datetime.now(UTC))
    if speed != 1.0:
        click.echo(
            f"bin-sim fleet: the bins' clocks start at {clock.now().isoformat()} and run at "
            f"{'full speed' if speed == 0 else f'{speed:g}x'}; run the bridge with "
            "`bin-bridge run --clock-from-bins ...` so that its time follows them",
            err=True,
        )
    with work_directory(workdir) as directory:
        sim = FleetSim(_options(bins, days, speed, seed, peak), endpoint, directory, clock=clock)
        sim.start()
        try:
            sim.run()
            sim.drain(timeout=60)
        finally:
            sim.stop()
        click.echo(json.dumps(sim.summary()))


@cli.command("city")
@click.option("--bins", default=1000, show_default=True, type=click.IntRange(1, 20_000))
@click.option("--days", default=30.0, show_default=True, type=click.FloatRange(1, 365),
              help="Measured days.")  # fmt: skip
@click.option("--warmup-days", default=7.0, show_default=True, type=click.FloatRange(0, 60),
              help="Simulated first, not measured (the bridge learns the rhythm).")  # fmt: skip
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--policies", default="fixed,threshold,revloop,oracle", show_default=True,
              help="Comma-separated policies to compare.")  # fmt: skip
@click.option("--vehicles", default=6, show_default=True, type=click.IntRange(1, 200))
@click.option("--co2e-per-km", default=1.5, show_default=True, type=click.FloatRange(0),
              help="Truck emissions, kg CO2e per km (see docs/benchmarks.md).")  # fmt: skip
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(1, 2),
              help="Processes: 2 runs revloop beside the others.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print only the figures, as JSON.")
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write PNG charts into this directory.")  # fmt: skip
def city(
    bins: int,
    days: float,
    warmup_days: float,
    seed: int,
    policies: str,
    vehicles: int,
    co2e_per_km: float,
    jobs: int,
    as_json: bool,
    plots_dir: Path | None,
) -> None:
    """A city of sensor bins under each collection policy, on one seeded world:
    collections, km, overflow and fill at collection side by side."""
    from cloud_bridge.extras import bridge_extra_message, missing_bridge_packages

    missing = missing_bridge_packages()
    if missing:
        click.echo(f"error: the city runs the bridge: {bridge_extra_message(missing)}", err=True)
        sys.exit(1)
    from simulator.city.report import run_and_report

    # The bridge logs every pickup it opens and escalates: a city of them is noise here
    # (set here, by the command, so a library call leaves the process's logging alone).
    logging.getLogger("cloud_bridge").setLevel(logging.ERROR)

    names = tuple(name.strip() for name in policies.split(",") if name.strip())
    try:
        run_and_report(
            bins=bins, days=days, warmup_days=warmup_days, seed=seed, policies=names,
            vehicles=vehicles, co2e_per_km=co2e_per_km, jobs=jobs, as_json=as_json,
            plots_dir=plots_dir,
        )  # fmt: skip
    except (RuntimeError, ValueError, OSError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)


@cli.command("bin")
@click.option("--config", "config_file", required=True, type=click.Path(path_type=Path))
@click.option("--hours", default=12.0, show_default=True, type=click.FloatRange(0.01, 24 * 60))
@click.option(
    "--speed",
    default=600.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Virtual seconds per real second (0: as fast as possible).",
)
@click.option("--broker", help="Use this broker (mqtt://HOST:PORT) instead of an embedded one.")
def single_bin(config_file: Path, hours: float, speed: float, broker: str | None) -> None:
    """One simulated bin (a sim-device or sim-pin profile) with its real classifier,
    printing every deposit: the item, the decision and how long it took."""
    from agent.cli.support import load_or_exit
    from agent.errors import AgentError
    from simulator.runners.demo import broker_for
    from simulator.runners.single_bin import Observed, run_single_bin

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("agent").setLevel(logging.ERROR)
    config = load_or_exit(config_file)
    console = Console()

    def show(seen: Observed) -> None:
        d = seen.decision
        item = seen.item
        truth = f"{item.category} {item.mass_g:.0f} g" if item else "?"
        verdict = "[green]accepted[/green]" if d.accepted else f"[red]rejected[/red] ({d.reason})"
        console.print(
            f"[dim]{seen.when}[/dim] {truth:<16} -> {d.category} {d.confidence:.2f} "
            f"{verdict} in {d.decision_ms:.0f} ms",
            soft_wrap=True,
        )

    try:
        with broker_for(broker) as endpoint:
            counters = run_single_bin(config, endpoint, hours=hours, speed=speed, on_deposit=show)
    except (AgentError, ValueError, OSError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    console.print(
        f"{counters.items} items from {counters.visitors} visitors: "
        f"{counters.accepted} accepted, {counters.rejected} rejected, "
        f"{counters.turned_away} visitors turned away"
    )


def main() -> None:
    """Console-script entry point."""
    cli()
