"""``bin-bridge`` commands for technicians: tickets, remote configuration, remote commands.

``tickets``, ``commands`` and ``config status`` read the database read-only, like the
other read commands. ``config push`` and ``cmd`` go through the running bridge's API
(the bridge holds the broker identity allowed to write ``config/desired`` and
``cmd``), with the token in ``$REVLOOP_API_TOKEN``.

``cmd`` exits 0 when the bin answered ``ok``, 1 when it answered ``ok: false`` (or
the request failed), 2 on a usage error (an unknown command is refused before
anything is sent) and :data:`TIMEOUT_EXIT_CODE` when no answer came in time.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import click

from cloud_bridge.cli.api_client import ApiClient, ApiClientError
from cloud_bridge.cli.output import print_table
from cloud_bridge.cli.support import (
    api_option,
    bridge_settings,
    config_option,
    db_option,
    domain_errors,
    fail,
    json_option,
    needs_one_of,
    print_json,
    reader,
    token_option,
)
from cloud_bridge.cli.tables import commands_table, config_table, tickets_table
from cloud_bridge.clock import system_clock
from cloud_bridge.config.commands import ttl_problem
from cloud_bridge.domain.ticket_rules import TICKET_KINDS
from cloud_bridge.services.remote_config import load_overlay
from cloud_bridge.views.rows import FLAGGED_CONFIG_STATES, command_row, config_row, ticket_row
from protocol import parse_ts
from protocol.messages import COMMAND_NAMES

TIMEOUT_EXIT_CODE = 3
"""Exit status of ``bin-bridge cmd`` when the bin did not answer within ``--wait``."""
WAIT_MARGIN_S = 5.0
"""Beyond the command's lifetime, how long ``cmd`` waits by default for its answer."""


@click.command("tickets")
@db_option
@config_option
@json_option
@click.option("--open", "open_only", is_flag=True, help="Only open tickets.")
@click.option("--status", type=click.Choice(["open", "resolved"]), help="Only this status.")
@click.option("--region", help="Only this region.")
@click.option("--bin", "bin_id", help="Only this bin.")
@click.option("--kind", type=click.Choice(list(TICKET_KINDS)), help="Only this kind.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@needs_one_of("--db", "--config")
def tickets(
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    open_only: bool,
    status: str | None,
    region: str | None,
    bin_id: str | None,
    kind: str | None,
    limit: int,
) -> None:
    """Print maintenance tickets (the messages technicians receive)."""
    with domain_errors(), reader(config_file, db) as store:
        records = store.list_tickets(
            open_only=open_only, status=status, region=region, bin_id=bin_id, kind=kind,
            limit=limit,
        )  # fmt: skip
    if as_json:
        print_json([ticket_row(record) for record in records])
    else:
        print_table(tickets_table(records))


@click.command("commands")
@db_option
@config_option
@json_option
@click.option("--bin", "bin_id", help="Only this bin.")
@click.option(
    "--status", type=click.Choice(["pending", "ok", "failed", "timed_out"]), help="Only this."
)
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True)
@needs_one_of("--db", "--config")
def commands(
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    bin_id: str | None,
    status: str | None,
    limit: int,
) -> None:
    """Print remote commands sent through the bridge and their answers, newest first."""
    with domain_errors(), reader(config_file, db) as store:
        rows = [command_row(c) for c in store.list_commands(bin_id=bin_id, status=status,
                                                             limit=limit)]  # fmt: skip
    if as_json:
        print_json(rows)
    else:
        print_table(commands_table(rows))


@click.group("config")
def config_group() -> None:
    """Push remote configuration to bins; see desired versus reported.

    ``config push`` goes through the running bridge's API (token in
    $REVLOOP_API_TOKEN); ``config status`` reads the database.
    """


@config_group.command("push")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--bin", "bin_id", help="Push to this bin.")
@click.option("--region", help="Push to every bin of this region.")
@api_option
@token_option
@json_option
@needs_one_of("--bin", "--region")
def push(
    file: Path,
    bin_id: str | None,
    region: str | None,
    api_url: str | None,
    token_env: str,
    as_json: bool,
) -> None:
    """Push FILE (TOML, or JSON if it ends in .json) to one bin or a region.

    FILE holds only the remotely settable sections ([intervals], [thresholds],
    [intake]); it is checked first, and nothing is sent if a key is wrong.
    """
    if (bin_id is None) == (region is None):
        raise click.UsageError("give exactly one of --bin and --region")
    with domain_errors():
        overlay = load_overlay(file)
        client = ApiClient.from_environment(api_url, token_env)
        try:
            result = client.push_config(overlay, bin_id=bin_id, region=region)
        finally:
            client.close()
    if as_json:
        print_json(result)
        return
    for item in result["pushed"]:
        click.echo(f"{item['bin_id']}: version {item['version']} pushed at {item['issued_at']}")


@config_group.command("status")
@db_option
@config_option
@json_option
@click.option("--region", help="Only this region.")
@click.option("--bin", "bin_id", help="Only this bin.")
@click.option("--flagged", is_flag=True, help="Only bins that did not apply what was pushed.")
@needs_one_of("--db", "--config")
def status(
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    region: str | None,
    bin_id: str | None,
    flagged: bool,
) -> None:
    """Print each bin's pushed (desired) versus reported configuration.

    States: pending, applied, rejected, rolled_back, overdue (no report within
    tickets.config_grace_s), superseded, none (nothing pushed).
    """
    with domain_errors():
        settings = bridge_settings(config_file, db, None)
        with reader(config_file, db) as store:
            records = store.load_bins()
    now = system_clock()
    graces: dict[str, float] = {}
    rows = []
    for record in records:
        if (region is not None and record.region != region) or (
            bin_id is not None and record.bin_id != bin_id
        ):
            continue
        if record.region not in graces:
            graces[record.region] = settings.tickets.policy(record.region).config_grace_s
        rows.append(config_row(record, now, graces[record.region]))
    if flagged:
        rows = [row for row in rows if row["state"] in FLAGGED_CONFIG_STATES]
    if as_json:
        print_json(rows)
    else:
        print_table(config_table(rows))


def parse_args(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--arg k=v`` pairs as an object: values that parse as JSON are taken as such
    (``5``, ``true``, ``[1, 2]``), anything else as a string."""
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--arg")
        if key in args:
            raise click.BadParameter(f"{key!r} is given twice", param_hint="--arg")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        if isinstance(value, float) and not math.isfinite(value):
            value = text
        args[key] = value
    return args


class _Lifetime(click.ParamType[float]):
    """A command's lifetime in seconds, checked by the bridge's own rule (``ttl_problem``);
    the maximum is the running bridge's ``commands.max_ttl_s``, which it checks itself."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        problem = ttl_problem(seconds, None)
        if problem is not None:
            self.fail(problem, param, ctx)
        return seconds


@click.command("cmd")
@click.argument("bin_id")
@click.argument("name")
@click.option("--arg", "pairs", multiple=True, metavar="KEY=VALUE", help="An argument (repeat).")
@click.option(
    "--ttl",
    type=_Lifetime(),
    help="Lifetime in seconds: the bin refuses the command after it (default: the bridge's "
    "commands.default_ttl_s; at least 1, at most its commands.max_ttl_s).",
)
@click.option(
    "--wait",
    type=click.FloatRange(0, 30 * 86_400),
    help=f"Seconds to wait for the answer (default: the lifetime + {WAIT_MARGIN_S:g}).",
)
@api_option
@token_option
@json_option
def cmd(
    bin_id: str,
    name: str,
    pairs: tuple[str, ...],
    ttl: float | None,
    wait: float | None,
    api_url: str | None,
    token_env: str,
    as_json: bool,
) -> None:
    """Send command NAME to BIN_ID through the bridge and wait for its answer.

    NAME is one of ping, selftest, tare, lock, unlock, capture, restart. Exit status:
    0 ok, 1 the bin answered ok: false, 3 no answer in time (offline bin, lost answer).
    """
    if name not in COMMAND_NAMES:
        raise click.BadParameter(
            f"unknown command {name!r}; known: {', '.join(COMMAND_NAMES)}", param_hint="NAME"
        )
    args = parse_args(pairs)
    with domain_errors():
        client = ApiClient.from_environment(api_url, token_env)
        try:
            row = _send(client, bin_id, name, args, ttl)
            lifetime = (parse_ts(row["expires_at"]) - parse_ts(row["issued_at"])).total_seconds()
            limit = lifetime + WAIT_MARGIN_S if wait is None else wait
            if row.get("warning"):
                click.echo(f"bin-bridge: warning: {row['warning']}; waiting {limit:g} s", err=True)
            deadline = time.monotonic() + limit
            while row["status"] == "pending":
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                row = client.get_command(row["id"], wait=remaining)
        finally:
            client.close()
    _report(row, as_json)


def _send(
    client: ApiClient, bin_id: str, name: str, args: dict[str, Any], ttl: float | None
) -> dict[str, Any]:
    """Send the command; a lifetime the bridge refuses is a usage error of ``--ttl``."""
    try:
        return client.send_command(bin_id, name, args, ttl)
    except ApiClientError as err:
        if err.status == 422 and "ttl_s" in err.problems:
            raise click.BadParameter(err.problems["ttl_s"], param_hint="'--ttl'") from None
        raise


def _report(row: dict[str, Any], as_json: bool) -> None:
    """Print the outcome and exit with the status that says it."""
    if as_json:
        print_json(row)
    status = row["status"]
    what = f"{row['bin_id']} {row['name']} ({row['id']})"
    if status == "ok":
        if not as_json:
            click.echo(f"{what}: ok")
            click.echo(json.dumps(row["result"], indent=2))
        return
    if status == "failed":
        if not as_json and row["result"]:
            click.echo(json.dumps(row["result"], indent=2))
        fail(f"{what} failed: {row['error']}")
    click.echo(
        f"bin-bridge: timed out: no answer from {row['bin_id']} to {row['name']} "
        f"({row['id']}); the bin may be offline. It refuses the command after "
        f"{row['expires_at']}; a late answer shows in `bin-bridge commands`.",
        err=True,
    )
    sys.exit(TIMEOUT_EXIT_CODE)


def register(group: click.Group) -> None:
    """Add these commands to ``bin-bridge``."""
    for command in (tickets, commands, config_group, cmd):
        group.add_command(command)
