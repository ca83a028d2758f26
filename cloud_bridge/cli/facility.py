"""``bin-bridge`` commands for receiving facilities: the facilities, intakes of collected
pickups and their reconciliation, dispositions and stock (traces: :mod:`.traceability`).

Read commands open the database read-only. Write commands (``intake record``, ``intake
dispose``, ``inventory move``) call the running bridge's API with the token in
``$REVLOOP_API_TOKEN`` (a facility or admin token), so the bridge stays the only writer
and the tickets an intake opens are published. A bad value is one line naming the
option or the field, exit code 1, and nothing is recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cloud_bridge.cli.api_client import ApiClient
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
from cloud_bridge.config.facilities import DISPOSITIONS, MATERIALS, FacilitySettings
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.views.exports import parse_when
from cloud_bridge.views.facility import (
    facility_row,
    intake_rows,
    inventory,
    stock_row,
)
from protocol import format_ts, parse_ts


class FacilityClient(ApiClient):
    """The API calls of the facility commands."""

    def record_intake(self, body: dict[str, Any]) -> dict[str, Any]:
        """Receive a load; answers it reconciled."""
        result: dict[str, Any] = self._post("/v1/intakes", body)
        return result

    def record_disposition(self, intake_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Decide what part of a lot becomes."""
        result: dict[str, Any] = self._post(f"/v1/intakes/{intake_id}/dispositions", body)
        return result

    def move_stock(self, facility_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Goods into or out of a facility's stock."""
        result: dict[str, Any] = self._post(f"/v1/facilities/{facility_id}/inventory", body)
        return result


def _call(api_url: str | None, token_env: str, call: Callable[[FacilityClient], Any]) -> Any:
    with domain_errors():
        client = FacilityClient.from_environment(api_url, token_env)
        assert isinstance(client, FacilityClient)  # from_environment makes a cls
        try:
            return call(client)
        finally:
            client.close()


def _number(option: str, key: str, text: str, *, signed: bool = False) -> float:
    """A finite number (>= 0 unless ``signed``), or one line naming the option and key."""
    name = f"{option} {key}" if key else option
    try:
        value = float(text)
    except ValueError:
        fail(f"{name}: {text!r} is not a number")
    if not math.isfinite(value) or (value < 0 and not signed):
        fail(f"{name}: must be a finite number{'' if signed else ' >= 0'}, not {text}")
    return value


def _pairs(option: str, items: tuple[str, ...]) -> dict[str, str]:
    """``CATEGORY=VALUE`` options as a mapping; an unknown category is one line."""
    result: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value:
            fail(f"{option} {item}: give CATEGORY=VALUE, e.g. glass=12.5")
        if key not in MATERIALS:
            fail(f"{option} {key}: unknown category; one of {', '.join(MATERIALS)}")
        if key in result:
            fail(f"{option} {key}: given twice")
        result[key] = value
    return result


def _when(text: str | None, option: str, *, end: bool = False) -> Any:
    if text is None:
        return None
    try:
        return parse_when(text, end=end)
    except ValueError as err:
        fail(f"{option}: {err}")


@click.command("facilities")
@config_option
@json_option
@needs_one_of("--config")
def facilities(config_file: Path | None, as_json: bool) -> None:
    """Print the receiving facilities of the settings."""
    if config_file is None:
        raise click.UsageError("give --config FILE (the facilities are in its [facilities])")
    with domain_errors():
        settings = bridge_settings(config_file, None, None)
    rows = [facility_row(site) for site in settings.facilities.sites]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        regions = ", ".join(row["regions"]) or "every region"
        click.echo(
            f"{row['facility_id']}: {row['name']} ({row['location']['lat']:g}, "
            f"{row['location']['lon']:g}); serves {regions}; accepts {', '.join(row['materials'])}"
        )


@click.group("intake")
def intake() -> None:
    """Receive loads of collected pickups, show them, decide what they become."""


@intake.command("record")
@click.option("--facility", "facility_id", required=True, help="Where the load was received.")
@click.option(
    "--pickup",
    "pickups",
    multiple=True,
    required=True,
    help="A collected pickup in the load: ID, or ID=SHARE for a part of a split one.",
)
@click.option("--kg", "weights", multiple=True, required=True, help="CATEGORY=KG weighed in.")
@click.option("--count", "counts", multiple=True, help="CATEGORY=N items counted.")
@click.option("--contaminated", multiple=True, help="CATEGORY=KG found not to be that material.")
@click.option("--received-at", help="When it was received (RFC 3339; default now).")
@click.option("--distance-km", help="km driven for the load (default: estimated).")
@click.option("--note", help="For the record.")
@api_option
@token_option
@json_option
def intake_record(
    facility_id: str,
    pickups: tuple[str, ...],
    weights: tuple[str, ...],
    counts: tuple[str, ...],
    contaminated: tuple[str, ...],
    received_at: str | None,
    distance_km: str | None,
    note: str | None,
    api_url: str | None,
    token_env: str,
    as_json: bool,
) -> None:
    """Record a load received at a facility, weighed per category; print its reconciliation."""
    kg = {k: _number("--kg", k, v) for k, v in _pairs("--kg", weights).items()}
    items = _pairs("--count", counts)
    bad = {
        k: _number("--contaminated", k, v)
        for k, v in _pairs("--contaminated", contaminated).items()
    }
    for key in (*items, *bad):
        if key not in kg:
            fail(f"--count/--contaminated {key}: no --kg {key}=KG was given")
    lines = []
    for category, value in kg.items():
        line: dict[str, Any] = {"category": category, "kg": value}
        if category in items:
            if not items[category].isdigit():
                fail(f"--count {category}: {items[category]!r} is not a whole number >= 0")
            line["count"] = int(items[category])
        if category in bad:
            line["contaminated_kg"] = bad[category]
        lines.append(line)
    parts = []
    for item in pickups:
        pickup_id, sep, share = item.partition("=")
        part: dict[str, Any] = {"pickup_id": pickup_id}
        if sep:
            value = _number("--pickup", pickup_id, share)
            if not 0 < value <= 1:
                fail(f"--pickup {pickup_id}: the share must be in (0, 1], not {share}")
            part["share"] = value
        parts.append(part)
    body: dict[str, Any] = {"facility_id": facility_id, "pickups": parts, "lines": lines}
    if received_at is not None:
        try:
            body["received_at"] = format_ts(parse_ts(received_at))
        except ValueError as err:
            fail(f"--received-at: {err}")
    if distance_km is not None:
        body["distance_km"] = _number("--distance-km", "", distance_km)
    if note is not None:
        body["note"] = note
    row = _call(api_url, token_env, lambda c: c.record_intake(body))
    if as_json:
        print_json(row)
    else:
        _print_intake(row)


def _print_intake(row: dict[str, Any]) -> None:
    pickups = ", ".join(
        p["pickup_id"] + ("" if p["share"] == 1 else f" ({p['share']:g})") for p in row["pickups"]
    )
    click.echo(
        f"{row['intake_id']} at {row['facility_id']}, {row['received_at']}: {pickups}; "
        f"{row['received_kg']:g} kg received, {row['declared_kg']:g} kg declared"
    )
    table = Table("category", "declared kg", "received kg", "diff kg", "diff %", "contam. kg",
                  "pending kg", "flag")  # fmt: skip
    for line in row["lines"]:
        pct = "-" if line["diff_pct"] is None else f"{line['diff_pct']:+.1f}"
        table.add_row(
            line["category"],
            f"{line['declared_kg']:.3f}",
            f"{line['received_kg']:.3f}",
            f"{line['diff_kg']:+.3f}",
            pct,
            f"{line['contaminated_kg']:.3f}",
            f"{line['pending_kg']:.3f}",
            "!" if line["flagged"] else "",
        )
    Console().print(table)


@intake.command("show")
@click.argument("intake_id")
@db_option
@config_option
@json_option
@needs_one_of("--db", "--config")
def intake_show(intake_id: str, db: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Print a load reconciled with its pickups' manifests, and the decisions on it."""
    settings = bridge_settings(config_file, db, None) if config_file else None
    with domain_errors(), reader(config_file, db) as store:
        found = store.get_intake(intake_id)
        if found is None:
            fail(f"no intake {intake_id!r}")
        (row,) = intake_rows(store, [found], facilities_of(settings))
    if as_json:
        print_json(row)
        return
    _print_intake(row)
    for d in row["dispositions"]:
        click.echo(
            f"  {d['disposition_id']}: {d['kg']:g} kg {d['category']} -> {d['disposition']}"
            f"{' grade ' + d['grade'] if d['grade'] else ''} ({d['actor']})"
        )


def facilities_of(settings: BridgeSettings | None) -> FacilitySettings:
    """The tolerances of the settings file (the defaults with only --db)."""
    return FacilitySettings() if settings is None else settings.facilities


@intake.command("dispose")
@click.argument("intake_id")
@click.option("--category", required=True, type=click.Choice(MATERIALS), help="The category.")
@click.option(
    "--as", "disposition", required=True, type=click.Choice(DISPOSITIONS), help="What it becomes."
)
@click.option("--kg", required=True, help="How many kg of the lot's category.")
@click.option("--count", type=click.IntRange(0, 10**9), help="Items, if counted.")
@click.option("--grade", help="A quality grade (A, B, C, ...).")
@click.option("--note", help="Why (returned because ..., repaired how ...).")
@click.option("--restock", is_flag=True, help="Put reused or repaired goods into stock.")
@api_option
@token_option
@json_option
def intake_dispose(
    intake_id: str,
    category: str,
    disposition: str,
    kg: str,
    count: int | None,
    grade: str | None,
    note: str | None,
    restock: bool,
    api_url: str | None,
    token_env: str,
    as_json: bool,
) -> None:
    """Decide what KG of a lot's category becomes (reuse ... dispose)."""
    body: dict[str, Any] = {
        "category": category,
        "disposition": disposition,
        "kg": _number("--kg", "", kg),
        "restock": restock,
    }
    for key, value in (("count", count), ("grade", grade), ("note", note)):
        if value is not None:
            body[key] = value
    result = _call(api_url, token_env, lambda c: c.record_disposition(intake_id, body))
    if as_json:
        print_json(result)
        return
    d = result["disposition"]
    click.echo(
        f"disposition {d['disposition_id']}: {d['kg']:g} kg {d['category']} of {intake_id} -> "
        f"{d['disposition']} (value {d['value']:g})"
        + (" ; restocked" if result["movement"] else "")
    )


@click.command("intakes")
@db_option
@config_option
@json_option
@click.option("--facility", "facility_id", help="Only this facility.")
@click.option("--bin", "bin_id", help="Only loads holding this bin's pickups.")
@click.option("--pickup", "pickup_id", help="Only loads holding this pickup.")
@click.option("--from", "since", help="From: YYYY-MM-DD (UTC) or an RFC 3339 time.")
@click.option("--to", "until", help="To (exclusive; a date includes that whole day).")
@needs_one_of("--db", "--config")
def intakes(
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    facility_id: str | None,
    bin_id: str | None,
    pickup_id: str | None,
    since: str | None,
    until: str | None,
) -> None:
    """Print loads received, oldest first, with their reconciliation."""
    start, stop = _when(since, "--from"), _when(until, "--to", end=True)
    settings = bridge_settings(config_file, db, None) if config_file else None
    with domain_errors(), reader(config_file, db) as store:
        found = store.list_intakes(
            facility_id=facility_id, bin_id=bin_id, pickup_id=pickup_id, since=start, until=stop
        )
        rows = intake_rows(store, found, facilities_of(settings))
    if as_json:
        print_json(rows)
        return
    table = Table("intake", "facility", "received", "pickups", "declared kg", "received kg",
                  "flag")  # fmt: skip
    for row in rows:
        table.add_row(
            row["intake_id"],
            row["facility_id"],
            row["received_at"],
            str(len(row["pickups"])),
            f"{row['declared_kg']:.1f}",
            f"{row['received_kg']:.1f}",
            "!" if row["flagged"] else "",
        )
    Console().print(table)


@click.group("inventory", invoke_without_command=True)
@db_option
@config_option
@json_option
@click.option("--facility", "facility_id", help="Only this facility.")
@click.pass_context
@needs_one_of("--db", "--config")
def inventory_group(
    ctx: click.Context,
    db: Path | None,
    config_file: Path | None,
    as_json: bool,
    facility_id: str | None,
) -> None:
    """Print the stock of recovered goods per facility and category.

    ``bin-bridge inventory move FACILITY ...`` puts goods in or takes them out.
    """
    if ctx.invoked_subcommand is not None:
        return
    with domain_errors(), reader(config_file, db) as store:
        if facility_id is not None:
            rows: Any = inventory(store, facility_id, 100)
        else:
            rows = [stock_row(level) for level in store.stock()]
    if as_json:
        print_json(rows)
        return
    levels = rows["stock"] if isinstance(rows, dict) else rows
    for level in levels:
        click.echo(
            f"{level['facility_id']}  {level['category']:<10} {level['kg']:>10.3f} kg "
            f"{level['count']:>6} items"
        )


@inventory_group.command("move")
@click.argument("facility_id")
@click.option("--category", required=True, type=click.Choice(MATERIALS), help="The category.")
@click.option("--kg", required=True, help="kg in (positive) or out (negative).")
@click.option("--count", type=click.IntRange(-(10**9), 10**9), help="Items in or out.")
@click.option("--reason", type=click.Choice(["restock", "issue", "adjust"]), help="Why.")
@click.option("--note", help="For the record.")
@api_option
@token_option
@json_option
def inventory_move(
    facility_id: str,
    category: str,
    kg: str,
    count: int | None,
    reason: str | None,
    note: str | None,
    api_url: str | None,
    token_env: str,
    as_json: bool,
) -> None:
    """Put recovered goods into FACILITY_ID's stock, or take them out."""
    body: dict[str, Any] = {"category": category, "kg": _number("--kg", "", kg, signed=True)}
    for key, value in (("count", count), ("reason", reason), ("note", note)):
        if value is not None:
            body[key] = value
    row = _call(api_url, token_env, lambda c: c.move_stock(facility_id, body))
    if as_json:
        print_json(row)
    else:
        click.echo(f"movement {row['movement_id']}: {row['kg']:+g} kg {category} ({row['reason']})")


def register(group: click.Group) -> None:
    """Add these commands to ``bin-bridge``."""
    for command in (facilities, intake, intakes, inventory_group):
        group.add_command(command)
