"""What is wrong with a bin now: the findings tickets are made of (pure functions).

:func:`findings` looks at one bin's record (presence, active faults and alarms, the
newest health figures with the bridge's counters on them, pushed versus reported
configuration) and the region's thresholds, and says, per ticket kind, whether a
cause stands, how severe it is and what the causes are. The ticket service turns
changes in these findings into opened, updated and resolved tickets.

Severities: ``critical`` when safety is at stake or the bin cannot work (a fire, a
component its own health report calls ``failed``); ``warning`` when the bin works
degraded or needs a visit; ``info`` for maintenance that can wait for the next visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from cloud_bridge.config.tickets import TicketPolicy
from cloud_bridge.domain.records import BinRecord, Flag
from protocol import TicketSeverity, format_ts

ConditionKind = Literal[
    "offline",
    "sensor_fault",
    "camera_fault",
    "storage_low",
    "outbox_backlog",
    "calibration_drift",
    "alarm",
    "config_not_applied",
]
CONDITION_KINDS: tuple[str, ...] = get_args(ConditionKind)
"""The kinds :func:`findings` decides from what the bin itself reports."""
TicketKind = Literal[ConditionKind, "classification_drift"]
TICKET_KINDS: tuple[str, ...] = get_args(TicketKind)
"""Every kind of ticket the bridge opens: the bins' conditions, and
``classification_drift``, which the receiving facilities' inspections open
(:mod:`cloud_bridge.services.facility`)."""

SENSOR_COMPONENTS: tuple[str, ...] = ("ultrasonic", "loadcell", "door", "flap")
CAMERA_COMPONENTS: tuple[str, ...] = ("camera",)
ALARM_SEVERITY: dict[str, TicketSeverity] = {
    "fire": "critical",
    "tilt": "warning",
    "tamper": "warning",
    "door_stuck": "warning",
}
"""Alarms that make an ``alarm`` ticket. ``overflow`` does not: a full bin needs a crew,
not a technician, and its pickup is already raised at high priority."""

CONFIG_STATES: tuple[str, ...] = (
    "pending",
    "applied",
    "rejected",
    "rolled_back",
    "overdue",
    "superseded",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """A cause of one kind of ticket standing on one bin now."""

    kind: str
    severity: TicketSeverity
    causes: tuple[str, ...]
    detail: str


def findings(record: BinRecord, policy: TicketPolicy, now: datetime) -> dict[str, Finding]:
    """Every ticket kind whose cause stands on ``record`` at ``now``."""
    found = [
        _offline(record, policy, now),
        _components(record, "sensor_fault", SENSOR_COMPONENTS),
        _components(record, "camera_fault", CAMERA_COMPONENTS),
        _storage(record, policy),
        _backlog(record, policy, now),
        _drift(record, policy),
        _alarms(record),
        _config(record, policy, now),
    ]
    return {finding.kind: finding for finding in found if finding is not None}


def _offline(record: BinRecord, policy: TicketPolicy, now: datetime) -> Finding | None:
    since = record.offline_since
    if record.online or since is None:
        return None
    if now - since < timedelta(seconds=policy.offline_grace_s):
        return None
    reason = record.state_reason or "lost"
    how = {"lost": "connection lost (its Will)", "shutdown": "shut down cleanly"}.get(
        reason, reason
    )
    return Finding(
        "offline",
        "warning",
        (reason,),
        f"offline since {format_ts(since)}: {how}; grace {policy.offline_grace_s:g} s",
    )


def _active(flags: dict[str, Flag], components: tuple[str, ...]) -> list[tuple[str, Flag]]:
    return [
        (key, flag)
        for key, flag in sorted(flags.items())
        if flag.active and key.partition("/")[0] in components
    ]


def _components(record: BinRecord, kind: str, components: tuple[str, ...]) -> Finding | None:
    """Active faults of ``components``, and components the newest health report calls
    ``failed`` when that report is newer than every fault report of the component."""
    causes: list[str] = []
    details: list[str] = []
    for key, flag in _active(record.faults, components):
        causes.append(key)
        details.append(f"{key}: {flag.detail}" if flag.detail else key)
    sensors = record.health.sensors if record.health is not None else {}
    critical = False
    for component in components:
        if sensors.get(component) != "failed":
            continue
        reports = [f for key, f in record.faults.items() if key.partition("/")[0] == component]
        newest_fault = max((f.seq for f in reports), default=0)
        has_cause = any(cause.partition("/")[0] == component for cause in causes)
        if has_cause:
            critical = True
        elif record.health_seq > newest_fault:
            causes.append(f"{component}/failed")
            details.append(f"{component}: failed (health report)")
            critical = True
    if not causes:
        return None
    return Finding(kind, "critical" if critical else "warning", tuple(causes), "; ".join(details))


def _storage(record: BinRecord, policy: TicketPolicy) -> Finding | None:
    causes: list[str] = []
    details: list[str] = []
    health = record.health
    if health is not None and health.disk_free_mb < policy.storage_low_mb:
        causes.append("disk_free")
        details.append(
            f"{health.disk_free_mb:.0f} MB free on the bin (bound {policy.storage_low_mb:g} MB)"
        )
    for key, flag in _active(record.faults, ("storage",)):
        if key != "storage/outbox_full":
            causes.append(key)
            details.append(f"{key}: {flag.detail}" if flag.detail else key)
    if not causes:
        return None
    return Finding("storage_low", "warning", tuple(causes), "; ".join(details))


def backlog_in(record: BinRecord, policy: TicketPolicy) -> bool:
    """Whether the newest health report shows an outbox backing up."""
    health = record.health
    return health is not None and (
        health.outbox_depth >= policy.outbox_backlog_depth
        or health.outbox_oldest_s >= policy.outbox_backlog_age_s
    )


def _backlog(record: BinRecord, policy: TicketPolicy, now: datetime) -> Finding | None:
    causes: list[str] = []
    details: list[str] = []
    health = record.health
    since = health.backlog_since if health is not None else None
    if (
        health is not None
        and since is not None
        and record.online
        and now - since >= timedelta(seconds=policy.outbox_backlog_for_s)
    ):
        causes.append("outbox")
        details.append(
            f"{health.outbox_depth} messages unsent, the oldest {health.outbox_oldest_s:.0f} s "
            f"old, since {format_ts(since)} (bounds {policy.outbox_backlog_depth} messages, "
            f"{policy.outbox_backlog_age_s:g} s)"
        )
    full = record.faults.get("storage/outbox_full")
    if full is not None and full.active:
        causes.append("storage/outbox_full")
        details.append(f"storage/outbox_full: {full.detail}" if full.detail else "outbox full")
    if not causes:
        return None
    return Finding("outbox_backlog", "warning", tuple(causes), "; ".join(details))


def _drift(record: BinRecord, policy: TicketPolicy) -> Finding | None:
    health = record.health
    if health is None or not health.drifting:
        return None
    reading = "unknown" if health.tray_idle_g is None else f"{health.tray_idle_g:+.1f} g"
    return Finding(
        "calibration_drift",
        "info",
        ("tray",),
        f"the idle, empty tray weighs {reading} (bound ±{policy.drift_bound_g:g} g, "
        f"{policy.drift_reports} health reports in a row): tare it (remote `tare` command)",
    )


def _alarms(record: BinRecord) -> Finding | None:
    active = [
        (kind, flag)
        for kind, flag in sorted(record.alarms.items())
        if flag.active and kind in ALARM_SEVERITY
    ]
    if not active:
        return None
    severity: TicketSeverity = "critical" if any(k == "fire" for k, _ in active) else "warning"
    detail = "; ".join(f"{kind}: {flag.detail}" if flag.detail else kind for kind, flag in active)
    return Finding("alarm", severity, tuple(kind for kind, _ in active), detail)


def config_state(record: BinRecord, now: datetime, grace_s: float) -> str | None:
    """Where the bin stands with the configuration the bridge pushed to it last.

    None when nothing was pushed; ``applied``, ``rejected`` or ``rolled_back`` as the
    bin reported that version; ``superseded`` when it reported a newer version the
    bridge did not push; ``applied`` too when its birth or health already carries that
    version (or newer); else ``pending`` until ``grace_s`` after the push, then
    ``overdue``.
    """
    version = record.desired_version
    if version is None:
        return None
    if record.reported_version == version and record.reported_status is not None:
        return record.reported_status
    if record.reported_version is not None and record.reported_version > version:
        return "superseded"
    if (record.config_version or 0) >= version:
        return "applied"
    pushed = record.desired_at
    if pushed is not None and now - pushed >= timedelta(seconds=grace_s):
        return "overdue"
    return "pending"


def _config(record: BinRecord, policy: TicketPolicy, now: datetime) -> Finding | None:
    state = config_state(record, now, policy.config_grace_s)
    version = record.desired_version
    if state not in ("rejected", "rolled_back", "overdue") or version is None:
        return None
    if state == "overdue":
        pushed = "" if record.desired_at is None else f" at {format_ts(record.desired_at)}"
        offline = "" if record.online else " (the bin is offline)"
        detail = (
            f"configuration version {version} pushed{pushed}: no report of it applied after "
            f"{policy.config_grace_s:g} s{offline}"
        )
    else:
        detail = (
            f"configuration version {version} {state.replace('_', ' ')} by the bin: "
            f"{record.reported_error or 'no reason given'}"
        )
    return Finding("config_not_applied", "warning", (f"v{version}/{state}",), detail)
