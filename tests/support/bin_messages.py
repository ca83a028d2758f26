"""Valid bin messages for bridge tests and benchmarks, built from the protocol models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from protocol import (
    AlarmEvent,
    AlarmKind,
    Category,
    CommandResult,
    ComponentHealth,
    ConfigReported,
    ConfigStatus,
    DepositEvent,
    DoorState,
    EmptiedEvent,
    FaultComponent,
    FaultEvent,
    Health,
    Location,
    State,
    StateReason,
    Telemetry,
    TopicKind,
    bin_topic,
    encode,
)

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def _envelope(bin_id: str, seq: int) -> dict[str, Any]:
    return {
        "bin_id": bin_id,
        "seq": seq,
        "boot_id": "boot-1",
        "ts": T0 + timedelta(seconds=seq),
        "clock_synced": True,
    }


def state(
    bin_id: str,
    seq: int,
    *,
    online: bool = True,
    bd_seq: int = 1,
    region: str = "north",
    lat: float | None = 52.5,
    lon: float | None = 13.4,
    reason: StateReason | None = None,
) -> tuple[str, bytes]:
    """A birth (or, with ``online=False``, a death) on the bin's state topic."""
    message = State(
        **_envelope(bin_id, seq),
        online=online,
        bd_seq=bd_seq,
        agent_version="0.1.0",
        config_version=3,
        reason=reason or ("connect" if online else "lost"),
        region=region,
        location=Location(lat=lat, lon=lon),
    )
    return bin_topic(bin_id, TopicKind.STATE), encode(message)


def telemetry(
    bin_id: str,
    seq: int,
    fill: float | None = 10.0,
    *,
    door: DoorState = "closed",
    weight: float | None = 5.0,
) -> tuple[str, bytes]:
    """A telemetry message."""
    message = Telemetry(
        **_envelope(bin_id, seq),
        fill_pct=fill,
        fill_mm=None if fill is None else 1000.0 - fill * 8,
        weight_kg=weight,
        temp_c=18.5,
        door=door,
        deposits_since_empty=3,
    )
    return bin_topic(bin_id, TopicKind.TELEMETRY), encode(message)


def deposit(
    bin_id: str,
    seq: int,
    category: Category = "plastic",
    *,
    grams: float = 250.0,
    accepted: bool = True,
) -> tuple[str, bytes]:
    """A deposit event."""
    message = DepositEvent(
        **_envelope(bin_id, seq),
        deposit_id=f"{bin_id}-d{seq}",
        category=category,
        confidence=0.93,
        accepted=accepted,
        reason=None if accepted else "low confidence",
        weight_g=grams,
        model="efficientnet-lite0-v1",
    )
    return bin_topic(bin_id, TopicKind.EVENT, "deposit"), encode(message)


def emptied(bin_id: str, seq: int, *, pickup_id: str | None = None) -> tuple[str, bytes]:
    """An emptied event."""
    message = EmptiedEvent(
        **_envelope(bin_id, seq),
        fill_before_pct=85.0,
        fill_after_pct=2.0,
        weight_before_kg=20.0,
        pickup_id=pickup_id,
    )
    return bin_topic(bin_id, TopicKind.EVENT, "emptied"), encode(message)


def alarm(
    bin_id: str,
    seq: int,
    kind: AlarmKind = "overflow",
    *,
    active: bool = True,
    detail: str | None = None,
) -> tuple[str, bytes]:
    """An alarm event."""
    message = AlarmEvent(**_envelope(bin_id, seq), kind=kind, active=active, detail=detail)
    return bin_topic(bin_id, TopicKind.EVENT, "alarm"), encode(message)


def fault(
    bin_id: str,
    seq: int,
    component: FaultComponent,
    code: str,
    *,
    active: bool = True,
    detail: str | None = None,
) -> tuple[str, bytes]:
    """A fault event."""
    message = FaultEvent(
        **_envelope(bin_id, seq), component=component, code=code, active=active, detail=detail
    )
    return bin_topic(bin_id, TopicKind.EVENT, "fault"), encode(message)


def health(
    bin_id: str,
    seq: int,
    *,
    disk_free_mb: float = 20_000.0,
    outbox_depth: int = 0,
    outbox_oldest_s: float = 0.0,
    sensors: dict[str, ComponentHealth] | None = None,
    tray_idle_g: float | None = 0.0,
    config_version: int = 3,
) -> tuple[str, bytes]:
    """A health report."""
    message = Health(
        **_envelope(bin_id, seq),
        uptime_s=100.0,
        cpu_temp_c=None,
        disk_free_mb=disk_free_mb,
        outbox_depth=outbox_depth,
        outbox_oldest_s=outbox_oldest_s,
        outbox_dropped=0,
        reconnects=0,
        agent_version="0.1.0",
        config_version=config_version,
        model_version="m1",
        sensors=sensors if sensors is not None else {"ultrasonic": "ok", "loadcell": "ok"},
        tray_idle_g=tray_idle_g,
    )
    return bin_topic(bin_id, TopicKind.HEALTH), encode(message)


def config_reported(
    bin_id: str, seq: int, version: int, status: ConfigStatus, error: str | None = None
) -> tuple[str, bytes]:
    """A report of what the bin did with a desired configuration."""
    message = ConfigReported(**_envelope(bin_id, seq), version=version, status=status, error=error)
    return bin_topic(bin_id, TopicKind.CONFIG_REPORTED, None), encode(message)


def command_result(
    bin_id: str,
    seq: int,
    command_id: str,
    *,
    ok: bool = True,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> tuple[str, bytes]:
    """A command's answer."""
    message = CommandResult(
        **_envelope(bin_id, seq), id=command_id, ok=ok, result=result or {}, error=error
    )
    return bin_topic(bin_id, TopicKind.CMD_RESULT), encode(message)
