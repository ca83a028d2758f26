"""``bin-bridge trace``: where material went, for facilities and schedulers.

From a deposit, a bin or a pickup forward (pickup, then the loads that received it,
then what each category became), and from a lot back to the bins that fed it. Each
prints JSON, read from the database read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cloud_bridge.cli.facility import facilities_of
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
from cloud_bridge.views.facility import bin_trace, deposit_trace, lot_trace, pickup_trace


@click.group("trace")
def trace() -> None:
    """Where material went (deposit, bin, pickup), or which bins fed a lot (intake)."""


def _trace(db: Path | None, config_file: Path | None, build: Callable[[Any], Any]) -> None:
    with domain_errors(), reader(config_file, db) as store:
        result = build(store)
    print_json(result)


@trace.command("pickup")
@click.argument("pickup_id")
@db_option
@config_option
@needs_one_of("--db", "--config")
def trace_pickup(pickup_id: str, db: Path | None, config_file: Path | None) -> None:
    """Print (JSON) the loads that received PICKUP_ID and what its material became."""

    def build(store: Any) -> Any:
        pickup = store.get_pickup(pickup_id)
        if pickup is None:
            fail(f"no pickup {pickup_id!r}")
        return pickup_trace(store, pickup)

    _trace(db, config_file, build)


@trace.command("bin")
@click.argument("bin_id")
@db_option
@config_option
@needs_one_of("--db", "--config")
def trace_bin(bin_id: str, db: Path | None, config_file: Path | None) -> None:
    """Print (JSON) where BIN_ID's collected material went, and its contamination rate."""
    settings = bridge_settings(config_file, db, None) if config_file else None

    def build(store: Any) -> Any:
        if store.get_bin(bin_id) is None:
            fail(f"no bin {bin_id!r}")
        return bin_trace(store, bin_id, facilities_of(settings))

    _trace(db, config_file, build)


@trace.command("deposit")
@click.argument("bin_id")
@click.argument("seq_text", metavar="SEQ")
@db_option
@config_option
@needs_one_of("--db", "--config")
def trace_deposit(bin_id: str, seq_text: str, db: Path | None, config_file: Path | None) -> None:
    """Print (JSON) the pickup that took deposit SEQ of BIN_ID and where it went."""
    if db is None and config_file is None:
        raise click.UsageError("give --db PATH or --config FILE")
    if not seq_text.isdigit() or not 1 <= int(seq_text) < 2**63:
        fail(f"SEQ: {seq_text!r} is not a deposit's seq (a whole number from 1)")
    seq = int(seq_text)

    def build(store: Any) -> Any:
        found = deposit_trace(store, bin_id, seq)
        if found is None:
            fail(f"no deposit {seq} of bin {bin_id!r}")
        return found

    _trace(db, config_file, build)


@trace.command("intake")
@click.argument("intake_id")
@db_option
@config_option
@needs_one_of("--db", "--config")
def trace_intake(intake_id: str, db: Path | None, config_file: Path | None) -> None:
    """Print (JSON) which bins, through which pickups, fed lot INTAKE_ID."""

    def build(store: Any) -> Any:
        found = store.get_intake(intake_id)
        if found is None:
            fail(f"no intake {intake_id!r}")
        return lot_trace(store, found)

    _trace(db, config_file, build)


def register(group: click.Group) -> None:
    """Add these commands to ``bin-bridge``."""
    group.add_command(trace)
