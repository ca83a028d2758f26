"""``bin-bridge report``: what the programme achieved, for managers.

``report impact`` reads the database read-only (it works while the bridge runs) and the
settings for the facilities' currency and the emission factor file; it prints a table,
JSON, CSV, or writes the one-page HTML report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cloud_bridge.cli.support import (
    bridge_settings,
    config_option,
    db_option,
    domain_errors,
    fail,
    needs_one_of,
    print_json,
    reader,
)
from cloud_bridge.config.facilities import DISPOSITIONS, MATERIALS
from cloud_bridge.views.exports import parse_when
from cloud_bridge.views.impact import impact_csv, impact_report, load_factor_set
from cloud_bridge.views.report_html import render_html


@click.group("report")
def report() -> None:
    """Reports of what the programme achieved."""


@report.command("impact")
@click.option("--from", "since", required=True, help="From: YYYY-MM-DD (UTC) or RFC 3339.")
@click.option("--to", "until", required=True, help="To (exclusive; a date includes that day).")
@click.option("--region", help="Only this region's bins.")
@click.option("--facility", "facility_id", help="Only this facility.")
@click.option("--material", type=click.Choice(MATERIALS), help="Only this material.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the report as CSV.")
@click.option(
    "--html", type=click.Path(path_type=Path), help="Write the one-page HTML report here."
)
@db_option
@config_option
@needs_one_of("--db", "--config")
def impact(
    since: str,
    until: str,
    region: str | None,
    facility_id: str | None,
    material: str | None,
    as_json: bool,
    as_csv: bool,
    html: Path | None,
    db: Path | None,
    config_file: Path | None,
) -> None:
    """Impact of a period: kg collected and per disposition, diversion, contamination, km, CO2e."""
    if sum((as_json, as_csv, html is not None)) > 1:
        fail("give at most one of --json, --csv and --html")
    try:
        start = parse_when(since)
    except ValueError as err:
        fail(f"--from: {err}")
    try:
        stop = parse_when(until, end=True)
    except ValueError as err:
        fail(f"--to: {err}")
    if start >= stop:
        fail("--to: must be after --from")
    with domain_errors():
        settings = bridge_settings(config_file, db, None)
        facilities = settings.facilities
        unknown = facility_id is not None and facilities.site(facility_id) is None
        if unknown and config_file is not None:
            fail(f"--facility: no facility {facility_id!r} in {config_file}")
        factors = load_factor_set(facilities.emission_factors)
        with reader(config_file, db) as store:
            result = impact_report(
                store,
                facilities,
                factors,
                since=start,
                until=stop,
                region=region,
                facility_id=facility_id,
                material=material,
            )
    if as_json:
        print_json(result)
    elif as_csv:
        click.echo(impact_csv(result), nl=False)
    elif html is not None:
        try:
            html.write_text(render_html(result, generated=datetime.now(UTC)), encoding="utf-8")
        except OSError as err:
            fail(f"{html}: {err.strerror or err}")
        click.echo(f"wrote {html}")
    else:
        Console().print(_table(result))


def _table(result: dict[str, object]) -> Table:
    totals = result["totals"]
    assert isinstance(totals, dict)
    factor = result["factor_set"]
    assert isinstance(factor, dict)
    table = Table(
        title=f"Impact {result['from']} to {result['to']}", show_header=False, min_width=60
    )
    table.add_column("figure")
    table.add_column("value", justify="right")

    def pct(value: object) -> str:
        return "-" if value is None else f"{value:.1f} %"

    rows = [
        ("collections", str(result["collections"])),
        ("kg collected (declared)", f"{totals['kg_collected']:.1f}"),
        ("kg received", f"{totals['kg_received']:.1f}"),
        *((f"  {d}", f"{totals['kg_by_disposition'][d]:.1f}") for d in DISPOSITIONS),
        ("  pending review", f"{totals['kg_pending']:.1f}"),
        ("diversion rate", pct(totals["diversion_rate_pct"])),
        ("contamination rate", pct(totals["contamination_rate_pct"])),
        (f"value ({result['currency']})", f"{totals['value']:.2f}"),
        ("km driven (estimated)", f"{result['km_driven']:.1f} ({result['km_estimated']:.1f})"),
        ("kg CO2e avoided", f"{totals['co2e_avoided_kg']:.1f}"),
        ("kg CO2e trucks", f"{result['co2e_truck_kg']:.1f}"),
        ("kg CO2e net", f"{result['co2e_net_kg']:.1f}"),
        ("emission factors", f"{factor['name']}, {factor['version']}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def register(group: click.Group) -> None:
    """Add these commands to ``bin-bridge``."""
    group.add_command(report)
