"""The bin's periodic reports: ``telemetry`` (the container) and ``health`` (the bin).

Both are droppable: when the outbox is full, the oldest of them go first, and events
are never dropped for them.
"""

from __future__ import annotations

from collections.abc import Callable

from agent import __version__
from agent.clock import Clock
from agent.hardware.devices import BinHardware, DeviceError
from agent.link.messages import MessageFactory
from agent.ops.sysinfo import cpu_temp_c, disk_free_mb
from agent.storage.outbox import Outbox
from agent.storage.state import BinState
from firmware_config.schema import DeviceConfig
from protocol.messages import ComponentHealth, Health, Telemetry
from protocol.topics import TopicKind

LinkStatus = Callable[[], tuple[bool, int]]
"""Whether the broker connection is up, and how many reconnects it took so far."""


class Reports:
    """Builds and stores the telemetry and health messages."""

    def __init__(
        self,
        state: BinState,
        hardware: BinHardware,
        clock: Clock,
        *,
        outbox: Outbox,
        messages: MessageFactory,
        config: Callable[[], DeviceConfig],
        link_status: LinkStatus,
        sensor_health: Callable[[], dict[str, ComponentHealth]],
        tray_idle_g: Callable[[], float | None],
        model_version: str,
    ) -> None:
        """``config`` gives the configuration in force (a remote one may replace it)."""
        self._state = state
        self._hardware = hardware
        self._clock = clock
        self._outbox = outbox
        self._messages = messages
        self._config = config
        self._link_status = link_status
        self._sensor_health = sensor_health
        self._tray_idle_g = tray_idle_g
        self.model_version = model_version
        self.started_at = clock.monotonic()
        self._reported_fill: float | None = None

    def door_state(self) -> str:
        """``locked``, ``open`` or ``closed`` as telemetry reports it."""
        if self._hardware.lock.locked:
            return "locked"
        try:
            return "open" if self._hardware.door.is_open() else "closed"
        except DeviceError:
            return "open"  # fail-safe: a door nobody can see is not known closed

    def fill_moved(self) -> bool:
        """Whether the fill changed enough since the last telemetry to report it now."""
        now, then = self._state.fill_pct, self._reported_fill
        if now is None or then is None:
            return now is not then
        return abs(now - then) >= self._config().thresholds.report_fill_step_pct

    def emit_telemetry(self) -> int | None:
        """Store a telemetry message built from the latest measurements."""
        state = self._state
        self._reported_fill = state.fill_pct
        return self._outbox.append(
            self._messages.topic(TopicKind.TELEMETRY),
            self._messages.build(
                Telemetry,
                fill_pct=state.fill_pct,
                fill_mm=state.fill_mm,
                weight_kg=round(state.contents_g / 1000.0, 3),
                temp_c=state.temp_c,
                door=self.door_state(),
                deposits_since_empty=state.deposits_since_empty,
            ),
            droppable=True,
        )

    def uptime_s(self) -> float:
        """Seconds since the runtime started, rounded as reports give it."""
        return round(self._clock.monotonic() - self.started_at, 1)

    def emit_health(self) -> int | None:
        """Store a health summary."""
        config = self._config()
        stats = self._outbox.stats()
        _, reconnects = self._link_status()
        return self._outbox.append(
            self._messages.topic(TopicKind.HEALTH),
            self._messages.build(
                Health,
                uptime_s=self.uptime_s(),
                cpu_temp_c=cpu_temp_c(),
                disk_free_mb=disk_free_mb(config.storage.path),
                outbox_depth=stats.depth,
                outbox_oldest_s=round(stats.oldest_age_s, 1),
                outbox_dropped=stats.dropped,
                outbox_unconfirmed=stats.unconfirmed,
                outbox_unconfirmed_oldest_s=round(stats.unconfirmed_oldest_s, 1),
                reconnects=reconnects,
                agent_version=__version__,
                config_version=config.config_version,
                model_version=self.model_version,
                sensors=self._sensor_health(),
                tray_idle_g=self._tray_idle_g(),
            ),
            droppable=True,
        )
