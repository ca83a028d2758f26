"""``bin-agent``: the command line of one bin.

The CLI parses arguments and turns domain errors into one-line messages and exit
codes; the work lives in the library modules.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from agent.classifier.cli import model_group
from agent.cli.support import fail, load_or_exit
from agent.cli.technicians import calibrate_group, selftest_command
from agent.clock import SystemClock
from agent.errors import AgentError
from agent.link.identity import KEY as CERT_KEY
from agent.link.identity import check_certificate_name
from agent.ops.status import read_status, render_status
from protocol.transport import parse_broker_url

RESULT_WAIT_S = 5.0
"""Longest wait, before a remote restart, for the broker to acknowledge what is stored."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="revloop", prog_name="bin-agent")
def cli() -> None:
    """Run and service one Revloop collection bin."""


@cli.group("config")
def config_group() -> None:
    """Check device configuration files."""


@config_group.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
def config_validate(file: Path) -> None:
    """Validate FILE; print every error with its key path and exit 1 if there is any.

    The client certificate, when the file names one and it exists here, must name the
    bin (its CN is the bin_id); one that is not here is only reported (a file checked
    before the bin's certificates are installed).
    """
    config = load_or_exit(file)
    cert_file = config.broker.tls.cert_file
    if cert_file is not None and not cert_file.exists():
        click.echo(f"{file}: {CERT_KEY}: {cert_file} is not here; not checked", err=True)
    else:
        try:
            check_certificate_name(config.broker, config.identity.bin_id)
        except AgentError as err:
            click.echo(f"{file}: {err}", err=True)
            sys.exit(1)
    click.echo(f"{file}: valid configuration for bin {config.identity.bin_id}")


@cli.command("run")
@click.option("--config", "config_file", required=True, type=click.Path(path_type=Path))
@click.option("--broker", help="Override the configured broker: mqtt://HOST:PORT or mqtts://.")
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
@click.option(
    "--clock-synced",
    is_flag=True,
    help=(
        "Trust the wall clock although the kernel does not report it synchronised "
        "(containers, hosts synchronised by other means)."
    ),
)
def run(config_file: Path, broker: str | None, verbose: bool, clock_synced: bool) -> None:
    """Run one bin: sensors, deposits, outbox and MQTT link, until SIGTERM or Ctrl-C.

    Under systemd (Type=notify) it reports READY=1 once started, pings the watchdog
    from its loop and reports STOPPING=1. After a remote ``restart`` command it stops
    cleanly and exits with status 75, for the service manager to start it again.
    """
    from agent.app import Agent
    from agent.classifier import build_classifier
    from agent.hardware import build_hardware
    from agent.ops.sdnotify import Notifier, WatchdogHook
    from agent.remote.commands import RESTART_EXIT_CODE

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = load_or_exit(config_file)
    try:
        endpoint = parse_broker_url(broker) if broker else None
    except ValueError as err:
        fail(f"--broker: {err}")
    clock = SystemClock(synced=True if clock_synced else None)
    try:
        classifier = build_classifier(config.classifier)
        hardware = build_hardware(config, clock)
        agent = Agent.build(
            config,
            hardware,
            clock,
            endpoint=endpoint,
            idle_poll_s=config.intervals.door_poll_ms / 1000.0,
            classifier=classifier,
            config_path=config_file,
        )
    except (AgentError, LookupError) as err:
        fail(str(err))
    notifier = Notifier.from_environment()
    if notifier.watchdog_s is not None:
        agent.runtime.hooks.append(WatchdogHook(notifier))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        agent.request_stop()

    def on_started() -> None:
        notifier.ready(f"bin {agent.config.identity.bin_id} running")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        agent.run_forever(on_started)
    finally:
        notifier.stopping()
        if agent.restart_requested.is_set() and not agent.outbox.wait_drained(RESULT_WAIT_S):
            logging.getLogger(__name__).warning(
                "restarting with messages still unacknowledged (sent after the restart)"
            )
        agent.stop()
        notifier.close()
    if agent.restart_requested.is_set():
        sys.exit(RESTART_EXIT_CODE)


@cli.command("status")
@click.option("--config", "config_file", required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(config_file: Path, as_json: bool) -> None:
    """Print the bin's local state: outbox depth, last fill and connection."""
    config = load_or_exit(config_file)
    try:
        report = read_status(config)
    except AgentError as err:
        fail(str(err))
    click.echo(render_status(report, as_json=as_json))


cli.add_command(selftest_command)
cli.add_command(calibrate_group)
cli.add_command(model_group)


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
