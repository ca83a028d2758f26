"""``bin-bridge``: run the cloud bridge and look at what it stored.

The CLI parses arguments and turns domain errors into one-line messages and exit
codes; the work lives in the library modules.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console

from cloud_bridge.bridge import Bridge
from cloud_bridge.errors import BridgeError
from cloud_bridge.security_cli import broker_config, pki_group
from cloud_bridge.settings import BridgeSettings, load_settings, parse_broker_url
from cloud_bridge.sqlite_store import SQLiteStore
from cloud_bridge.views import (
    bin_row,
    bins_table,
    pickup_row,
    pickups_table,
    rejection_row,
    stats_table,
)

logger = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005
"""The interpreter's thread switch interval in ``bin-bridge run`` (Python's default is 5 ms).

The paho network thread makes several short socket reads per message, each releasing
the GIL; with the default it then waits up to 5 ms behind the busy writer thread (the
"convoy effect"), which starves the receive side. 0.5 ms keeps both threads fed.
"""

_config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="TOML settings file (see docs/bridge.md).",
)
_db_option = click.option(
    "--db", type=click.Path(path_type=Path), help="SQLite database (overrides store.path)."
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")


def _fail(message: str) -> None:
    click.echo(f"bin-bridge: {message}", err=True)
    sys.exit(1)


def _settings(config_file: Path | None, db: Path | None, broker: str | None) -> BridgeSettings:
    settings = load_settings(config_file) if config_file else BridgeSettings()
    if broker is not None:
        parse_broker_url(broker)
        settings = settings.model_copy(
            update={"broker": settings.broker.model_copy(update={"url": broker})}
        )
    if db is not None:
        settings = settings.model_copy(
            update={"store": settings.store.model_copy(update={"path": db})}
        )
    return settings


@contextmanager
def _reader(config_file: Path | None, db: Path | None) -> Iterator[SQLiteStore]:
    if db is None and config_file is None:
        raise click.UsageError("give --db PATH or --config FILE")
    settings = _settings(config_file, db, None)
    store = SQLiteStore(settings.store.path, readonly=True)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _domain_errors() -> Iterator[None]:
    try:
        yield
    except BridgeError as err:
        _fail(str(err))


def _print_json(rows: Any) -> None:
    click.echo(json.dumps(rows, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="revloop", prog_name="bin-bridge")
def cli() -> None:
    """The Revloop cloud bridge: bins' MQTT messages in, fleet state and pickups out."""


@cli.command("run")
@click.option("--broker", help="Broker URL, mqtt://HOST:PORT or mqtts://HOST:PORT.")
@_db_option
@_config_option
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Log level (logs go to stderr).",
)
def run(broker: str | None, db: Path | None, config_file: Path | None, log_level: str) -> None:
    """Run the bridge until SIGTERM or SIGINT."""
    logging.basicConfig(
        stream=sys.stderr,
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    with _domain_errors():
        settings = _settings(config_file, db, broker)
        bridge = Bridge(settings)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    logger.info(
        "bridge starting: broker %s, database %s",
        settings.broker.address.url,
        settings.store.path,
    )
    with _domain_errors():
        bridge.start()
    while not stop.wait(0.5):
        if bridge.error is not None:
            break
    bridge.stop()
    if bridge.error is not None:
        _fail(f"stopped after an internal error: {bridge.error}")
    logger.info("bridge stopped")


@cli.command("bins")
@_db_option
@_config_option
@_json_option
def bins(db: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Print every bin's current state and presence."""
    with _domain_errors(), _reader(config_file, db) as store:
        records = store.load_bins()
    if as_json:
        _print_json([bin_row(record) for record in records])
    else:
        Console().print(bins_table(records))


@cli.command("pickups")
@_db_option
@_config_option
@_json_option
@click.option("--open", "open_only", is_flag=True, help="Only pickups awaiting collection.")
def pickups(db: Path | None, config_file: Path | None, as_json: bool, open_only: bool) -> None:
    """Print pickups (the messages schedulers receive)."""
    with _domain_errors(), _reader(config_file, db) as store:
        records = store.list_pickups(open_only=open_only)
    if as_json:
        _print_json([pickup_row(record) for record in records])
    else:
        Console().print(pickups_table(records))


@cli.command("stats")
@_db_option
@_config_option
@_json_option
def stats(db: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Print stored messages per kind and rejected messages per reason."""
    with _domain_errors(), _reader(config_file, db) as store:
        messages = store.message_counts()
        rejections = store.rejection_counts()
        outbox = len(store.pending_publications())
    if as_json:
        _print_json(
            {
                "messages": messages,
                "rejections": [rejection_row(item) for item in rejections],
                "outbox": outbox,
            }
        )
    else:
        Console().print(stats_table(messages, rejections))


cli.add_command(pki_group)
cli.add_command(broker_config)


def main() -> None:
    """Console-script entry point."""
    cli()
