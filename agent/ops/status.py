"""``bin-agent status``: the local state of a bin, read from its database.

It opens the database read-only (WAL lets it read while the agent writes), so a
technician can run it beside a live agent.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from agent.clock import SystemClock
from agent.errors import StorageError
from agent.ops.instance_lock import agent_running
from agent.storage.localdb import LocalDb
from agent.storage.outbox import Outbox
from agent.storage.state import BinState
from firmware_config.schema import DeviceConfig


@dataclass(frozen=True, slots=True)
class StatusReport:
    """What ``bin-agent status`` shows."""

    bin_id: str
    database: str
    outbox_depth: int
    outbox_bytes: int
    outbox_oldest_s: float
    outbox_dropped: int
    outbox_unconfirmed: int
    """Rows the broker took that the bridge has not confirmed (part of the depth)."""
    outbox_unconfirmed_s: float
    """How long ago the broker took the oldest of them, by the wall clock."""
    last_seq: int
    fill_pct: float | None
    fill_mm: float | None
    deposits_since_empty: int
    agent_running: bool
    connected: bool
    connection_since: str | None
    last_error: str | None
    """Why the agent's latest connection attempt failed, while it is not connected."""
    bd_seq: int
    active_alarms: list[str]
    active_faults: list[str]


def read_status(config: DeviceConfig) -> StatusReport:
    """Read the bin's database without disturbing a running agent."""
    path = config.storage.path
    if not path.exists():
        raise StorageError(f"no agent database at {path} (has the agent run yet?)")
    db = LocalDb(path, readonly=True)
    try:
        outbox = Outbox(
            db,
            SystemClock(synced=True),
            max_rows=config.storage.max_rows,
            max_bytes=config.storage.max_bytes,
        )
        stats = outbox.stats()
        state = BinState.load(db)
        link: dict[str, Any] = db.get("link", {}) or {}
        return StatusReport(
            bin_id=config.identity.bin_id,
            database=str(path),
            outbox_depth=stats.depth,
            outbox_bytes=stats.bytes,
            outbox_oldest_s=round(_wall_age(outbox.oldest_created_at()), 1),
            outbox_dropped=stats.dropped,
            outbox_unconfirmed=stats.unconfirmed,
            outbox_unconfirmed_s=round(_wall_age(outbox.oldest_sent_at()), 1),
            last_seq=stats.last_seq,
            fill_pct=state.fill_pct,
            fill_mm=state.fill_mm,
            deposits_since_empty=state.deposits_since_empty,
            agent_running=agent_running(path),
            connected=bool(link.get("connected")) and agent_running(path),
            connection_since=link.get("since"),
            last_error=None if link.get("connected") else link.get("error"),
            bd_seq=int(db.get("bd_seq", 0)),
            active_alarms=sorted(state.active_alarms),
            active_faults=sorted(state.active_faults),
        )
    finally:
        db.close()


def _wall_age(oldest: datetime | None) -> float:
    """Age of a stored time by the wall clock (monotonic stamps are per process)."""
    if oldest is None:
        return 0.0
    return max((datetime.now(UTC) - oldest).total_seconds(), 0.0)


def render_status(report: StatusReport, *, as_json: bool) -> str:
    """Text for the terminal, or one JSON object."""
    if as_json:
        return json.dumps(asdict(report), indent=2)
    if not report.agent_running:
        connection = "agent not running"
    else:
        connection = "connected" if report.connected else "disconnected"
    fill = "unknown" if report.fill_pct is None else f"{report.fill_pct:.1f} %"
    lines = [
        f"bin            {report.bin_id}",
        f"database       {report.database}",
        f"connection     {connection}"
        + (
            f" (last change {report.connection_since})"
            if report.connection_since and report.agent_running
            else ""
        )
        + f" (bd_seq {report.bd_seq})",
        *([f"last error     {report.last_error}"] if report.last_error else []),
        f"outbox         {report.outbox_depth} messages, {report.outbox_bytes} bytes, "
        f"oldest {report.outbox_oldest_s:.0f} s, {report.outbox_dropped} telemetry dropped",
        f"unconfirmed    {report.outbox_unconfirmed} taken by the broker, not yet confirmed "
        "by the bridge"
        + (f" (oldest {report.outbox_unconfirmed_s:.0f} s)" if report.outbox_unconfirmed else ""),
        f"last seq       {report.last_seq}",
        f"last fill      {fill}"
        + (f" ({report.fill_mm:.0f} mm)" if report.fill_mm is not None else ""),
        f"deposits       {report.deposits_since_empty} since last emptied",
        f"alarms         {', '.join(report.active_alarms) or 'none'}",
        "faults         " + (", ".join(report.active_faults) or "none"),
    ]
    return "\n".join(lines)
