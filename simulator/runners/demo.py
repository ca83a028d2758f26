"""``bin-sim demo``: a broker, a fleet, the bridge, a crew and a receiving facility, on
one virtual clock.

Starts an embedded broker (unless one is given), the real cloud bridge on the
simulation's clock, and a fleet of simulated bins running the real agent; prints
pickups as the crew receives them; the loads the crew collects are received at a
simulated facility (:mod:`simulator.runners.facility`), and the summary at the end says
what they became (the bridge's own impact report).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.clock import ManualClock
from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.runtime import BridgeRuntime
from cloud_bridge.store import open_store
from cloud_bridge.views.impact import impact_report, load_factor_set
from protocol.transport import BrokerUrl, parse_broker_url
from simulator.runners.embedded_broker import EmbeddedBroker
from simulator.runners.facility import FacilityOptions, SimFacility, site_settings
from simulator.runners.fleet import CITY_CENTRE, FleetOptions, FleetSim, PickupNotice

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
    facility: FacilityOptions | None = None,
) -> DemoResult:
    """Run the whole demo and return its figures."""
    facility = facility or FacilityOptions(seed=options.seed)
    clock = ManualClock()
    token = secrets.token_urlsafe(24)
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
                "facilities": {
                    "sites": [site_settings(CITY_CENTRE[0] + 0.05, CITY_CENTRE[1] - 0.1)],
                    "contamination_intakes": 2,
                    "prices": {"glass": {"reuse": 0.3, "recycle": 0.03},
                               "metal": {"recycle": 0.4}, "trash": {"dispose": -0.1}},
                },
                "routing": {
                    "regions": {
                        region: {"depot": {"lat": CITY_CENTRE[0], "lon": CITY_CENTRE[1]}}
                        for region in options.regions
                    }
                },
                # the dashboard and the API on a port the system picks, one admin token
                "api": {"port": 0, "tokens": [{"name": "demo", "role": "admin",
                        "sha256": hashlib.sha256(token.encode()).hexdigest()}]},
            },
            source="demo",
        )  # fmt: skip
        started = clock.now()
        bridge = BridgeRuntime(settings, clock=clock.now)
        bridge.start()
        try:
            if not bridge.wait_ready(15):
                raise RuntimeError(f"the bridge could not connect to {endpoint}")
            if bridge.api is not None and not quiet:
                console.print(f"Dashboard: [bold]{bridge.api.url}/[/bold]")
                console.print(
                    f"Demo token (admin, while the demo runs; --speed 300 leaves time to "
                    f"look): [bold]{token}[/bold]",
                    soft_wrap=True,
                )

            receiving = SimFacility(facility, bridge.bridge)

            def on_pickup(notice: PickupNotice) -> None:
                if not quiet:
                    console.print(describe_pickup(notice), overflow="ellipsis", no_wrap=True)
                receiving.receive(notice.pickup)

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
            summary = fleet.summary()
            summary["facility"] = facility_summary(
                settings.store.path, settings, started, clock.now(), receiving
            )
            return DemoResult(
                summary=summary,
                bridge_bins=len(bridge.store.load_bins()),
                bridge_pickups=len(bridge.store.list_pickups()),
            )
        finally:
            bridge.stop()


def facility_summary(
    path: Path,
    settings: BridgeSettings,
    since: datetime,
    until: datetime,
    receiving: SimFacility,
) -> dict[str, Any]:
    """What the facility received and what it became: the bridge's impact report of the
    run, read from its database, and the drift tickets the inspections opened."""
    store = open_store(path, readonly=True)
    try:
        report = impact_report(
            store,
            settings.facilities,
            load_factor_set(),
            since=since,
            until=until + timedelta(seconds=1),
        )
        drift = store.list_tickets(kind="classification_drift")
    finally:
        store.close()
    totals = report["totals"]
    return {
        "intakes": receiving.counters.intakes,
        "kg_collected": totals["kg_collected"],
        "kg_received": totals["kg_received"],
        "contamination_rate_pct": totals["contamination_rate_pct"],
        "diversion_rate_pct": totals["diversion_rate_pct"],
        "kg_by_disposition": totals["kg_by_disposition"],
        "km_driven": report["km_driven"],
        "co2e_avoided_kg": totals["co2e_avoided_kg"],
        "co2e_net_kg": report["co2e_net_kg"],
        "drift_tickets": sorted({t.bin_id for t in drift}),
    }


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
    f = s.get("facility")
    if f:

        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} %"

        drift = ", ".join(f["drift_tickets"]) or "none"
        rows += [
            ("loads received at the facility", str(f["intakes"])),
            ("  kg received (kg declared by the bins)",
             f"{f['kg_received']:.1f} ({f['kg_collected']:.1f})"),
            ("  contamination found", pct(f["contamination_rate_pct"])),
            ("  diversion rate (not disposed of)", pct(f["diversion_rate_pct"])),
            ("  kg reused / recycled / recovered / disposed",
             " / ".join(f"{f['kg_by_disposition'][d]:.0f}"
                        for d in ("reuse", "recycle", "recover", "dispose"))),
            ("  kg CO2e avoided (net of trucks)",
             f"{f['co2e_avoided_kg']:.0f} ({f['co2e_net_kg']:.0f})"),
            ("  classification_drift tickets", drift),
        ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    return table
