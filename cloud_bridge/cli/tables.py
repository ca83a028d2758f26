"""The rich tables ``bin-bridge`` prints for people (``--json`` prints the rows of
:mod:`cloud_bridge.views.rows` instead); the CLI is the only user of ``rich``.

Print them with :func:`cloud_bridge.cli.output.print_table`, which keeps them readable in
a narrow terminal and in a pipe. Ids never wrap (a person copies them whole), other
values fold instead of being cut, and every moment carries its date with the month
(:func:`_when`, :func:`_short`), all in UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from cloud_bridge.cli.output import add_columns, new_table
from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.domain.records import (
    BinRecord,
    Delivery,
    DepositRow,
    PickupRecord,
    RejectionCount,
    TicketRecord,
)
from cloud_bridge.planning.routes import RoutePlan
from cloud_bridge.security.revocation import CertInfo
from protocol import parse_ts


def config_table(rows: list[dict[str, Any]]) -> Table:
    """Desired versus reported configuration, flagged bins in red."""
    table = new_table(f"{len(rows)} bins: configuration")
    add_columns(
        table, "bin", "region", "desired", "reported", "running", "state", "error", ids=("bin",)
    )
    for row in rows:
        state = row["state"]
        shown = f"[red]{state}[/red]" if row["flagged"] else state
        reported = (
            "-"
            if row["reported_version"] is None
            else f"{row['reported_version']} {row['reported_status']}"
        )
        table.add_row(
            row["bin_id"],
            row["region"],
            "-" if row["desired_version"] is None else str(row["desired_version"]),
            reported,
            "-" if row["config_version"] is None else str(row["config_version"]),
            shown,
            row["reported_error"] or "",
        )
    return table


def tickets_table(records: list[TicketRecord]) -> Table:
    """Tickets and where they stand, the most severe in red."""
    table = new_table(f"{len(records)} tickets")
    add_columns(
        table, "ticket", "bin", "region", "kind", "severity", "status", "opened", "detail",
        ids=("ticket", "bin"),
    )  # fmt: skip
    colours = {"critical": "red", "warning": "yellow", "info": "cyan"}
    for t in records:
        colour = colours[t.severity]
        table.add_row(
            t.ticket_id,
            t.bin_id,
            t.region,
            t.kind,
            f"[{colour}]{t.severity}[/{colour}]",
            t.status if t.resolved_at is None else f"resolved {_when(t.resolved_at)}",
            _when(t.opened_at),
            t.detail,
        )
    return table


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def bins_table(records: list[BinRecord], forecasts: dict[str, Forecast] | None = None) -> Table:
    """The fleet at a glance, with each bin's health: sensors not ok, unsent messages."""
    table = new_table(f"{len(records)} bins")
    add_columns(
        table, "bin", "region", "online", "fill %", "kg", "door", "sensors", "outbox",
        "last seq", "last seen", "full at (p10-p90)", ids=("bin",),
    )  # fmt: skip
    forecasts = forecasts or {}
    for r in records:
        forecast = forecasts.get(r.bin_id)
        online = "[green]yes[/green]" if r.online else "[red]no[/red]"
        if not r.registered:
            online += " (unregistered)"
        table.add_row(
            r.bin_id,
            r.region,
            online,
            _num(r.fill_pct),
            _num(r.weight_kg, 2),
            r.door or "-",
            _sensors(r),
            "-" if r.health is None else str(r.health.outbox_depth),
            str(r.last_seq),
            "-" if r.last_seen is None else _when(r.last_seen),
            _full_at(forecast),
        )
    return table


def _sensors(record: BinRecord) -> str:
    """The sensors the newest health report did not call ok (failed first), or ok."""
    if record.health is None:
        return "-"
    sensors = record.health.sensors
    failed = sorted(name for name, state in sensors.items() if state == "failed")
    degraded = sorted(name for name, state in sensors.items() if state == "degraded")
    shown = [f"[red]{name} failed[/red]" for name in failed]
    shown += [f"[yellow]{name} degraded[/yellow]" for name in degraded]
    return ", ".join(shown) or "ok"


def _when(value: datetime) -> str:
    """A moment for people: the date with its month and the time, in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _when_s(value: datetime) -> str:
    """A moment to the second (deposits come seconds apart), with its date, in UTC."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _short(value: datetime | None) -> str:
    """A moment in the next days, short but with its month: ``23 Nov 14:00`` (UTC)."""
    return "?" if value is None else value.astimezone(UTC).strftime("%d %b %H:%M")


def _full_at(forecast: Forecast | None) -> str:
    if forecast is None or forecast.predicted_full_at is None:
        return "-" if forecast is None else f"({forecast.method})"
    return (
        f"{_short(forecast.predicted_full_at)} "
        f"({_short(forecast.low)} - {_short(forecast.high)}, {forecast.method})"
    )


def pickups_table(records: list[PickupRecord]) -> Table:
    """Pickups and where they stand."""
    table = new_table(f"{len(records)} pickups")
    add_columns(
        table, "pickup", "bin", "region", "status", "priority", "reason", "fill %", "due by",
        "full at", "manifest", ids=("pickup", "bin"),
    )  # fmt: skip
    for p in records:
        manifest = ", ".join(
            f"{category} {entry.count}/{entry.kg:.2f} kg"
            for category, entry in sorted(p.manifest.items())
        )
        table.add_row(
            p.pickup_id,
            p.bin_id,
            p.region,
            p.status,
            p.priority,
            p.reason,
            _num(p.fill_pct),
            _when(p.due_by),
            "-" if p.predicted_full_at is None else _short(p.predicted_full_at),
            manifest or "-",
        )
    return table


def stats_table(messages: dict[str, int], rejections: list[RejectionCount]) -> Table:
    """Stored messages per kind and rejections per reason."""
    table = new_table("ingest")
    table.add_column("what", overflow="fold")
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("latest example", overflow="fold")
    for kind, count in messages.items():
        table.add_row(f"stored {kind}", str(count), "")
    for item in rejections:
        table.add_row(f"[red]rejected {item.reason}[/red]", str(item.count), item.last_detail or "")
    return table


def deposits_table(rows: list[DepositRow]) -> Table:
    """Deposits, newest last."""
    table = new_table(f"{len(rows)} deposits")
    add_columns(
        table, "bin", "seq", "ts", "category", "accepted", "confidence", "g", "reason",
        ids=("bin", "seq"),
    )  # fmt: skip
    for d in rows:
        table.add_row(
            d.bin_id,
            str(d.seq),
            _when_s(d.ts),
            d.category,
            "[green]yes[/green]" if d.accepted else "[red]no[/red]",
            f"{d.confidence:.2f}",
            f"{d.weight_g:.0f}",
            d.reason or "",
        )
    return table


def deliveries_table(rows: list[Delivery]) -> Table:
    """Webhook deliveries and where they stand."""
    table = new_table(f"{len(rows)} webhook deliveries")
    add_columns(
        table, "id", "endpoint", "kind", "key", "state", "attempts", "next attempt", "error",
        ids=("id", "key"),
    )  # fmt: skip
    for d in rows:
        colour = {"dead": "red", "delivered": "green"}.get(d.state, "yellow")
        table.add_row(
            str(d.id),
            d.endpoint,
            d.kind,
            d.key,
            f"[{colour}]{d.state}[/{colour}]",
            str(d.attempts),
            _when(d.next_attempt_at) if d.state == "pending" else "-",
            d.last_error or "",
        )
    return table


def routes_table(plan: RoutePlan) -> Table:
    """The plan for people: one row per stop, vehicle by vehicle."""
    table = Table(
        title=f"region {plan.region}: {sum(len(r.stops) for r in plan.vehicles)} stops on "
        f"{len(plan.vehicles)} vehicles, {len(plan.unassigned)} unassigned "
        f"(solved in {plan.solve_s:.1f} s)",
        box=box.SIMPLE_HEAD,  # light rules and no edges: more room for the columns
        collapse_padding=True,
        pad_edge=False,
    )
    # Unwrapped: a stop is one line, and an id or a time never splits over two. The ids
    # keep their whole width; on a terminal too narrow for all, the others shorten (…).
    ids = [(s.bin_id, s.pickup_id) for r in plan.vehicles for s in r.stops]
    ids += [(u.bin_id, u.pickup_id) for u in plan.unassigned]
    bin_width = max([len("back at depot"), *(len(b) for b, _ in ids)])
    pickup_width = max([len("pickup"), *(len(p) for _, p in ids)])
    table.add_column("veh", no_wrap=True, justify="right")
    table.add_column("#", no_wrap=True, justify="right")
    table.add_column("bin", no_wrap=True, min_width=bin_width)
    table.add_column("pickup", no_wrap=True, min_width=pickup_width)
    for name in ("priority", "leg km", "km", "eta", "due by"):
        table.add_column(name, no_wrap=True)
    table.add_column("load L / kg", justify="right", no_wrap=True)
    for route in plan.vehicles:
        for s in route.stops:
            late = s.eta > s.due_by
            table.add_row(
                str(route.vehicle) if s.order == 1 else "",
                str(s.order),
                s.bin_id,
                s.pickup_id,
                s.priority,
                f"{s.leg_km:.1f}",
                f"{s.cumulative_km:.1f}",
                ("[red]" if late else "") + _short(s.eta) + ("[/red]" if late else ""),
                _short(s.due_by),
                f"{s.load_l:.0f} / {s.load_kg:.1f}",
            )
        table.add_row(
            "", "", "[dim]back at depot[/dim]", "", "", "", f"{route.distance_km:.1f}",
            _short(route.back_at), "", "",
        )  # fmt: skip
    for u in plan.unassigned:
        table.add_row("-", "", u.bin_id, u.pickup_id, "", "", "", "", "", f"[red]{u.reason}[/red]")
    return table


def certificates_table(certificates: list[CertInfo], directory: Path, now: datetime) -> Table:
    """Every certificate the CA issued: who, which serial, until when, and whether it
    still counts (revoked, replaced by a renewal but still valid, expired)."""
    table = new_table(f"{len(certificates)} certificates in {directory}")
    add_columns(
        table, "kind", "name", "serial", "expires", "days", "status", "file",
        ids=("name", "serial"),
    )  # fmt: skip
    for info in certificates:
        days = "-" if info.not_after is None else str((info.not_after - now).days)
        table.add_row(
            info.kind,
            info.common_name,
            info.serial,
            "-" if info.not_after is None else _when(info.not_after),
            days,
            _certificate_status(info, now),
            info.path.relative_to(directory).as_posix() if info.current else "-",
        )
    return table


def _certificate_status(info: CertInfo, now: datetime) -> str:
    if info.revoked_at is not None:
        return f"[red]revoked {_when(info.revoked_at)}[/red]"
    if info.not_after is not None and info.not_after <= now:
        return "expired"
    if not info.current:
        # A renewal replaced its file, but the old certificate still opens the broker.
        return "[yellow]replaced, still valid[/yellow]"
    return "valid"


def commands_table(rows: list[dict[str, Any]]) -> Table:
    """Remote commands, newest first, and what the bins answered (the rows of
    :func:`cloud_bridge.views.rows.command_row`)."""
    table = new_table(f"{len(rows)} commands")
    add_columns(
        table, "issued", "id", "bin", "name", "status", "actor", "outcome", ids=("id", "bin")
    )
    colours = {"ok": "green", "failed": "red", "timed_out": "yellow"}
    for row in rows:
        outcome = row["error"] or ("" if row["result"] is None else json.dumps(row["result"]))
        status = row["status"]
        colour = colours.get(status)
        table.add_row(
            _when(parse_ts(row["issued_at"])),
            row["id"],
            row["bin_id"],
            row["name"],
            f"[{colour}]{status}[/{colour}]" if colour else status,
            row["actor"],
            outcome if len(outcome) <= 200 else outcome[:199] + "…",
        )
    return table
