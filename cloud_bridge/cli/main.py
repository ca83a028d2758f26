"""``bin-bridge``: run the cloud bridge and look at what it stored.

The CLI parses arguments and turns domain errors into one-line messages and exit
codes; the work lives in the library modules.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import get_args

import click

from cloud_bridge.cli.facility import register as register_facility
from cloud_bridge.cli.output import print_table
from cloud_bridge.cli.reports import register as register_reports
from cloud_bridge.cli.schedulers import register
from cloud_bridge.cli.security import broker_config, pki_group
from cloud_bridge.cli.support import (
    bridge_settings,
    config_option,
    db_option,
    domain_errors,
    fail,
    json_option,
    needs_one_of,
    print_json,
    reader,
)
from cloud_bridge.cli.tables import bins_table, pickups_table, stats_table
from cloud_bridge.cli.technicians import register as register_technicians
from cloud_bridge.cli.traceability import register as register_traces
from cloud_bridge.runtime import BridgeRuntime, following_bins
from cloud_bridge.services.seq_resets import request_seq_reset
from cloud_bridge.views.rows import bin_row, pickup_row, rejection_row
from protocol import PickupStatus

logger = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005
"""The interpreter's thread switch interval in ``bin-bridge run`` (Python's default is 5 ms).

The paho network thread makes several short socket reads per message, each releasing
the GIL; with the default it then waits up to 5 ms behind the busy writer thread (the
"convoy effect"), which starves the receive side. 0.5 ms keeps both threads fed.
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="revloop", prog_name="bin-bridge")
def cli() -> None:
    """The Revloop cloud bridge: bins' MQTT messages in; fleet state, pickups and tickets out."""


@cli.command("run")
@click.option("--broker", help="Broker URL, mqtt://HOST:PORT or mqtts://HOST:PORT.")
@db_option
@config_option
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Log level (logs go to stderr).",
)
@click.option("--api-host", help="Address the REST API listens on (overrides api.host).")
@click.option(
    "--api-port",
    type=click.IntRange(0, 65535),
    help="Serve the REST API on this port (overrides api.port).",
)
@click.option(
    "--clock-from-bins",
    is_flag=True,
    help="Take the bridge's time from the bins' synced timestamps (a simulated fleet "
    "faster than life, e.g. bin-sim fleet --speed 600).",
)
def run(
    broker: str | None,
    db: Path | None,
    config_file: Path | None,
    log_level: str,
    api_host: str | None,
    api_port: int | None,
    clock_from_bins: bool,
) -> None:
    """Run the bridge until SIGTERM or SIGINT (with its API, if a port is set)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    with domain_errors():
        settings = bridge_settings(config_file, db, broker)
        api = settings.api.model_copy(
            update={
                key: value
                for key, value in (("host", api_host), ("port", api_port))
                if value is not None
            }
        )
        settings = settings.model_copy(update={"api": api})
        runtime = following_bins(settings) if clock_from_bins else BridgeRuntime(settings)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    logger.info(
        "bridge starting: broker %s, database %s%s",
        settings.broker.address.url,
        settings.store.path,
        ", clock following the bins' timestamps" if clock_from_bins else "",
    )
    with domain_errors():
        runtime.start()
    while not stop.wait(0.5):
        if runtime.error is not None:
            break
    runtime.stop()
    if runtime.error is not None:
        fail(f"stopped after an internal error: {runtime.error}")
    logger.info("bridge stopped")


@cli.command("bins")
@db_option
@config_option
@json_option
@click.option("--region", help="Only this region.")
@click.option(
    "--online/--offline", "online", default=None, help="Only bins online (or offline) now."
)
@needs_one_of("--db", "--config")
def bins(
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    region: str | None,
    online: bool | None,
) -> None:
    """Print every bin's current state, presence and health (sensors, outbox)."""
    with domain_errors(), reader(config_file, db) as store:
        records = store.load_bins()
        forecasts = store.load_forecasts()
    records = [
        record
        for record in records
        if (region is None or record.region == region)
        and (online is None or record.online == online)
    ]
    if as_json:
        print_json([bin_row(record, forecasts.get(record.bin_id)) for record in records])
    else:
        print_table(bins_table(records, forecasts))


@cli.command("pickups")
@db_option
@config_option
@json_option
@click.option("--open", "open_only", is_flag=True, help="Only pickups awaiting collection.")
@click.option("--status", type=click.Choice(list(get_args(PickupStatus))), help="Only this status.")
@click.option("--region", help="Only this region.")
@click.option("--bin", "bin_id", help="Only this bin.")
@needs_one_of("--db", "--config")
def pickups(
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    open_only: bool,
    status: str | None,
    region: str | None,
    bin_id: str | None,
) -> None:
    """Print pickups (the messages schedulers receive)."""
    with domain_errors(), reader(config_file, db) as store:
        records = store.list_pickups(
            open_only=open_only, status=status, region=region, bin_id=bin_id
        )
    if as_json:
        print_json([pickup_row(record) for record in records])
    else:
        print_table(pickups_table(records))


@cli.command("stats")
@db_option
@config_option
@json_option
@needs_one_of("--db", "--config")
def stats(db: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Print stored messages per kind and rejected messages per reason."""
    with domain_errors(), reader(config_file, db) as store:
        messages = store.message_counts()
        rejections = store.rejection_counts()
        outbox = len(store.pending_publications())
    if as_json:
        print_json(
            {
                "messages": messages,
                "rejections": [rejection_row(item) for item in rejections],
                "outbox": outbox,
            }
        )
    else:
        print_table(stats_table(messages, rejections))


@cli.group("bin")
def bin_group() -> None:
    """Technicians' actions on one bin's record in the bridge."""


@bin_group.command("reset")
@click.argument("bin_id")
@db_option
@config_option
@click.option(
    "--actor",
    default=lambda: os.environ.get("USER") or "cli",
    show_default="$USER",
    help="Who reset the bin (recorded with the reset).",
)
@needs_one_of("--db", "--config")
def bin_reset(bin_id: str, db: Path | None, config_file: Path | None, actor: str) -> None:
    """Accept a re-flashed bin whose seq counter started again (its database was wiped).

    Its messages that collide with stored ones are rejected as seq_reused until the
    bridge applies the reset (at its next policy tick, or when it starts); after that
    they are stored under the bin's seq plus the highest seq stored from it before.
    """
    if db is None and config_file is None:
        raise click.UsageError("give --db PATH or --config FILE")
    settings = bridge_settings(config_file, db, None)
    with domain_errors():
        request = request_seq_reset(settings.store.path, bin_id, actor=actor, now=datetime.now(UTC))
    click.echo(
        f"reset {request.reset_id} of {bin_id} recorded; the bridge applies it at its next "
        f"policy tick (every {settings.timers.tick_s:g} s) or when it starts"
    )


cli.add_command(pki_group)
cli.add_command(broker_config)
register(cli)
register_technicians(cli)
register_facility(cli)
register_reports(cli)
register_traces(cli)


def main() -> None:
    """Console-script entry point."""
    cli()
