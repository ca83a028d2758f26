"""``bin-sim demo``: a broker, a fleet, the bridge and a crew, on one virtual clock.

Starts an embedded broker (unless one is given), the real cloud bridge on the
simulation's clock, and a fleet of simulated bins running the real agent; prints
pickups as the crew receives them and a summary at the end.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.clock import ManualClock
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.runtime import BridgeRuntime
from protocol.transport import BrokerUrl, parse_broker_url
from simulator.runners.embedded_broker import EmbeddedBroker
from simulator.runners.fleet import FleetOptions, FleetSim, PickupNotice

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """The fleet's summary plus what the bridge stored."""

    summary: dict[str, Any]
    bridge_bins: int
    bridge_pickups: int


@contextlib.contextmanager
def broker_for(url: str | None) -> Iterator[BrokerUrl]:
    """The given broker, or an embedded one for the duration."""
    if url is not None:
        yield parse_broker_url(url)
        return
    broker = EmbeddedBroker()
    broker.start()
    try:
        yield parse_broker_url(broker.url)
    finally:
        broker.stop()


@contextlib.contextmanager
def work_directory(path: Path | None) -> Iterator[Path]:
    """Where agent and bridge databases live: the given directory or a temporary one.

    Temporary databases go to /dev/shm where it exists: fsync is what a real SD card
    pays, not what a simulation should wait for.
    """
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(
        prefix="revloop-demo-", dir=shm if shm.is_dir() else None
    ) as tmp:
        yield Path(tmp)


def describe_pickup(notice: PickupNotice) -> str:
    """One line a scheduler would want to read (rich markup)."""
    p = notice.pickup
    top = sorted(p.manifest.items(), key=lambda kv: -kv[1].kg)[:3]
    items = " ".join(f"{category} {entry.count}/{entry.kg:.1f}kg" for category, entry in top)
    fill = "?" if p.fill_pct is None else f"{p.fill_pct:.0f}%"
    colour = {"requested": "yellow", "collected": "green", "escalated": "red"}.get(p.status, "cyan")
    return (
        f"[dim]{p.ts:%a %H:%M}[/dim] [{colour}]{p.status:<9}[/{colour}] {p.bin_id} "
        f"{p.region or '':<6} fill {fill:>4} {p.priority:<6} due {p.due_by:%a %H:%M}  "
        f"[dim]{items}[/dim]"
    )


def run_demo(
    options: FleetOptions,
    *,
    broker_url: str | None,
    workdir: Path | None,
    console: Console,
    quiet: bool = False,
) -> DemoResult:
    """Run the whole demo and return its figures."""
    clock = ManualClock()
    with broker_for(broker_url) as endpoint, work_directory(workdir) as directory:
        settings = validate_settings(
            {
                "broker": {
                    "url": str(endpoint),
                    "client_id": "revloop-demo-bridge",
                    "backoff_min_s": 0.2,
                    "backoff_max_s": 5,
                },
                "store": {"path": str(directory / "bridge.db"), "synchronous": "NORMAL"},
                "default_region": options.regions[0],
                "pickups": {"pickup_threshold_pct": 80.0, "due_hours": 24.0},
            },
            source="demo",
        )
        bridge = BridgeRuntime(settings, clock=clock.now)
        bridge.start()
        try:
            if not bridge.wait_ready(15):
                raise RuntimeError(f"the bridge could not connect to {endpoint}")

            def on_pickup(notice: PickupNotice) -> None:
                if not quiet:
                    console.print(describe_pickup(notice), overflow="ellipsis", no_wrap=True)

            fleet = FleetSim(options, endpoint, directory, clock=clock, on_pickup=on_pickup)
            fleet.start()
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[when]}"),
                TimeElapsedColumn(),
                console=console,
                disable=quiet,
                transient=True,
            ) as progress:
                task = progress.add_task(
                    f"{options.bins} bins, {options.days:g} days", total=1.0, when=""
                )

                def report(done: float) -> None:
                    progress.update(task, completed=done, when=clock.now().strftime("%a %H:%M"))

                fleet.run(report)
            drained = fleet.drain(timeout=60)
            if not drained:
                log.warning("some agents still hold unsent messages")
            fleet.stop()
            bridge.wait_for(
                lambda stats: stats.processed >= stats.received and stats.unconfirmed == 0,
                timeout=30,
            )
            fleet.read_pickups()
            return DemoResult(
                summary=fleet.summary(),
                bridge_bins=len(bridge.store.load_bins()),
                bridge_pickups=len(bridge.store.list_pickups()),
            )
        finally:
            bridge.stop()


def summary_table(result: DemoResult) -> Table:
    """The end-of-run table, one figure per row so it fits any terminal."""
    s = result.summary
    table = Table(title="Simulated fleet", show_header=False)
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("bins", str(s["bins"])),
        ("virtual days", f"{s['virtual_days']:g}"),
        ("deposits", str(s["deposits"])),
        ("  accepted", str(s["accepted"])),
        ("  rejected", str(s["rejected"])),
        ("pickups requested", str(s["pickups"])),
        ("pickups collected", str(s["collected"])),
        ("hours any bin was full (summed over bins)", f"{s['hours_full']:.1f}"),
        ("visitors turned away by a full bin", str(s["turned_away"])),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
