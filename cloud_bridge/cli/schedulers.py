"""``bin-bridge`` commands for schedulers: forecasts, history, deposits, routes, webhooks,
exports, and the pickup actions.

Read commands open the database read-only, as the others do. Write commands
(``pickup ack|schedule|cancel``, ``webhooks retry``) call the running bridge's API
with the token in ``$REVLOOP_API_TOKEN``, so the bridge stays the only writer.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cloud_bridge.cli.api_client import ApiClient
from cloud_bridge.cli.output import print_table, table_console
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
from cloud_bridge.cli.tables import deliveries_table, deposits_table, routes_table
from cloud_bridge.clock import system_clock
from cloud_bridge.planning.routes import plan_routes, stops_for_region
from cloud_bridge.views.exports import deposits_csv, parse_when, pickups_csv
from cloud_bridge.views.rows import delivery_row, deposit_row, fill_row, forecast_detail
from protocol import parse_ts
from protocol.messages import CATEGORIES


def _when(text: str | None, name: str, *, end: bool = False) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_when(text, end=end)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint=name) from None


def _range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    start, stop = _when(since, "--from"), _when(until, "--to", end=True)
    if start is not None and stop is not None and start >= stop:
        raise click.BadParameter("must be after --from", param_hint="--to")
    return start, stop


_from = click.option("--from", "since", help="From: YYYY-MM-DD (UTC) or an RFC 3339 time.")
_to = click.option("--to", "until", help="To (exclusive; a date includes that whole day).")


@click.command("forecast")
@click.argument("bin_id")
@db_option
@config_option
@json_option
@needs_one_of("--db", "--config")
def forecast(bin_id: str, db: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Print when BIN_ID will be full: p10-p90 band, rate, method."""
    with domain_errors(), reader(config_file, db) as store:
        if store.get_bin(bin_id) is None:
            fail(f"no bin {bin_id!r}")
        detail = forecast_detail(store.get_forecast(bin_id))
    if as_json:
        print_json({"bin_id": bin_id, "forecast": detail})
    elif detail is None:
        click.echo(f"{bin_id}: no forecast yet")
    else:
        click.echo(
            f"{bin_id}: full ({detail['full_pct']:g} %) at {detail['predicted_full_at'] or '-'} "
            f"(p10 {detail['forecast_low'] or '-'}, p90 {detail['forecast_high'] or '-'}); "
            f"fill now {detail['level_pct']} %, rate {detail['fill_rate_pct_per_h']} %/h, "
            f"method {detail['forecast_method']}, {detail['points']} readings"
        )


@click.command("history")
@click.argument("bin_id")
@db_option
@config_option
@json_option
@_from
@_to
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@needs_one_of("--db", "--config")
def history(
    bin_id: str,
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    since: str | None,
    until: str | None,
    limit: int,
) -> None:
    """Print BIN_ID's fill readings (the newest LIMIT in the range)."""
    start, stop = _range(since, until)
    with domain_errors(), reader(config_file, db) as store:
        points = store.fill_history(bin_id, since=start, until=stop, limit=limit)
    rows = [fill_row(point) for point in points]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['at']}  seq {row['seq']:>8}  fill {row['fill_pct']}  door {row['door']}")


@click.command("manifest")
@click.argument("bin_id")
@db_option
@config_option
@json_option
@needs_one_of("--db", "--config")
def manifest(bin_id: str, db: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Print what is in BIN_ID now (count and kg per category).

    Deposits accepted since the last emptying.
    """
    with domain_errors(), reader(config_file, db) as store:
        record = store.get_bin(bin_id)
        if record is None:
            fail(f"no bin {bin_id!r}")
        entries = store.manifest(bin_id, record.emptied_seq)
    data = {k: v.model_dump(mode="json") for k, v in entries.items()}
    if as_json:
        print_json({"bin_id": bin_id, "manifest": data})
        return
    for category, entry in sorted(data.items()):
        click.echo(f"{category:<10} {entry['count']:>5}  {entry['kg']:.3f} kg")


@click.command("deposits")
@db_option
@config_option
@json_option
@click.option("--bin", "bin_id", help="Only this bin.")
@click.option("--category", type=click.Choice(list(CATEGORIES)), help="Only this category.")
@_from
@_to
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
@needs_one_of("--db", "--config")
def deposits(
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    bin_id: str | None,
    category: str | None,
    since: str | None,
    until: str | None,
    limit: int,
) -> None:
    """Print deposit events by bin time."""
    start, stop = _range(since, until)
    with domain_errors(), reader(config_file, db) as store:
        rows = store.list_deposits(
            bin_id=bin_id, category=category, since=start, until=stop, limit=limit
        )
    if as_json:
        print_json([deposit_row(row) for row in rows])
    else:
        print_table(deposits_table(rows))


@click.command("routes")
@click.option("--region", required=True, help="Region whose open pickups to route.")
@db_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--time-limit", type=click.FloatRange(0.1, 600), help="Solver seconds.")
@click.option("--start", help="Plan start (RFC 3339; default now).")
@needs_one_of("--config")
def routes(
    region: str,
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    time_limit: float | None,
    start: str | None,
) -> None:
    """Batch a region's open pickups into vehicle routes (OR-Tools).

    Vehicles start at the region's depot; capacity and due times are respected.
    """
    if config_file is None:
        raise click.UsageError("give --config FILE: the region's depot and vehicles are set there")
    with domain_errors():
        settings = bridge_settings(config_file, db, None)
    fleet = settings.routing.regions.get(region)
    if fleet is None:
        fail(f"routing.regions.{region}: no depot and vehicles configured for region {region!r}")
    try:
        begin = system_clock() if start is None else parse_ts(start)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--start") from None
    with domain_errors(), reader(config_file, db) as store:
        stops, missing = stops_for_region(store, settings.routing, region)
    plan = plan_routes(
        region,
        stops,
        fleet,
        start=begin,
        service_minutes=settings.routing.service_minutes,
        time_limit_s=time_limit or settings.routing.time_limit_s,
        unassigned=missing,
    )
    if as_json:
        print_json(plan.as_json())
    else:
        # its own layout: one line per stop, ids whole, other columns shortened
        table_console().print(routes_table(plan))


@click.group("webhooks", invoke_without_command=True)
@db_option
@config_option
@json_option
@click.option("--dead", is_flag=True, help="Only dead letters.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True)
@click.pass_context
@needs_one_of("--db", "--config")
def webhooks(
    ctx: click.Context,
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    dead: bool,
    limit: int,
) -> None:
    """Print webhook deliveries, newest first.

    ``bin-bridge webhooks retry ID`` retries a dead letter.
    """
    if ctx.invoked_subcommand is not None:
        return
    with domain_errors(), reader(config_file, db) as store:
        rows = store.list_deliveries(state="dead" if dead else None, limit=limit)
    if as_json:
        print_json([delivery_row(row) for row in rows])
    else:
        print_table(deliveries_table(rows))


@webhooks.command("retry")
@click.argument("delivery_id", type=click.IntRange(1, 2**63 - 1))
@api_option
@token_option
def retry(delivery_id: int, api_url: str | None, token_env: str) -> None:
    """Retry dead letter DELIVERY_ID through the bridge's API."""
    with domain_errors():
        client = ApiClient.from_environment(api_url, token_env)
        try:
            client.retry_delivery(delivery_id)
        finally:
            client.close()
    click.echo(f"delivery {delivery_id} is pending again")


@click.group("pickup")
def pickup() -> None:
    """Act on a pickup through the running bridge's API.

    The API token is read from $REVLOOP_API_TOKEN (or --token-env).
    """


def _act(api_url: str | None, token_env: str, as_json: bool, call: Any) -> None:
    with domain_errors():
        client = ApiClient.from_environment(api_url, token_env)
        try:
            result = call(client)
        finally:
            client.close()
    if as_json:
        print_json(result)
    else:
        click.echo(
            f"{result['pickup_id']} {result['bin_id']}: {result['status']} "
            f"(priority {result['priority']}, due {result['due_by']})"
        )


@pickup.command("ack")
@click.argument("pickup_id")
@api_option
@token_option
@json_option
def ack(pickup_id: str, api_url: str | None, token_env: str, as_json: bool) -> None:
    """Acknowledge PICKUP_ID."""
    _act(api_url, token_env, as_json, lambda c: c.acknowledge(pickup_id))


@pickup.command("schedule")
@click.argument("pickup_id")
@click.option("--at", "when", required=True, help="Planned collection time (RFC 3339).")
@click.option("--note", help="A note, kept with the pickup.")
@click.option("--confirm", is_flag=True, help="Schedule after the pickup's due_by on purpose.")
@api_option
@token_option
@json_option
def schedule(
    pickup_id: str,
    when: str,
    note: str | None,
    confirm: bool,
    api_url: str | None,
    token_env: str,
    as_json: bool,
) -> None:
    """Schedule PICKUP_ID for a time."""
    try:
        at = parse_ts(when)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--at") from None
    _act(api_url, token_env, as_json, lambda c: c.schedule(pickup_id, at, note, confirm))


@pickup.command("cancel")
@click.argument("pickup_id")
@click.option("--reason", required=True, help="Why the pickup is cancelled.")
@api_option
@token_option
@json_option
def cancel(pickup_id: str, reason: str, api_url: str | None, token_env: str, as_json: bool) -> None:
    """Cancel PICKUP_ID."""
    _act(api_url, token_env, as_json, lambda c: c.cancel(pickup_id, reason))


@click.group("export")
def export() -> None:
    """Write pickups or deposits of a date range as CSV."""


def _export_options(fn: Any) -> Any:
    for option in reversed(
        [
            db_option,
            config_option,
            click.option("--from", "since", required=True, help="From: YYYY-MM-DD or RFC 3339."),
            click.option("--to", "until", required=True, help="To (a date includes that day)."),
            click.option(
                "--out", type=click.Path(path_type=Path), help="Write here instead of stdout."
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _write(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        fail(f"{out}: {err.strerror or err}")


@export.command("pickups")
@_export_options
@needs_one_of("--db", "--config")
def export_pickups(
    db: Path | None, config_file: Path | None, since: str, until: str, out: Path | None
) -> None:
    """Pickups requested in the range as CSV (manifest in columns)."""
    start, stop = _range(since, until)
    with domain_errors(), reader(config_file, db) as store:
        text = pickups_csv(store.list_pickups(since=start, until=stop))
    _write(text, out)


@export.command("deposits")
@_export_options
@needs_one_of("--db", "--config")
def export_deposits(
    db: Path | None, config_file: Path | None, since: str, until: str, out: Path | None
) -> None:
    """Deposits in the range (by bin time), one CSV row each."""
    start, stop = _range(since, until)
    with domain_errors(), reader(config_file, db) as store:
        text = deposits_csv(store.list_deposits(since=start, until=stop))
    _write(text, out)


def register(group: click.Group) -> None:
    """Add these commands to ``bin-bridge``."""
    for command in (forecast, history, manifest, deposits, routes, webhooks, pickup, export):
        group.add_command(command)
