"""The bin's alarms and faults: each raised once and cleared once, each change an event.

Alarms (``fire``, ``overflow``, ``door_stuck``, ...) and the faults of the components
that are not devices (``storage``, ``network``) are set by the runtime's checks; device
faults come from polling every device's health (:class:`agent.runtime.fault_monitor.FaultMonitor`).
Every change is stored as an event together with the state that remembers it, so a
restart neither raises an alarm again nor forgets one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from agent.hardware.devices import Device, DeviceStatus
from agent.runtime.fault_monitor import FaultMonitor
from agent.storage.state import BinState
from protocol.messages import ComponentHealth

log = logging.getLogger(__name__)

NON_DEVICE_COMPONENTS = ("storage", "network")
"""Components whose faults the runtime sets itself (no device reports them)."""

EmitEvent = Callable[[str, dict[str, Any]], int | None]
"""Stores one ``events/{type}`` message with the bin's state."""


class FlapJamLatch:
    """The ``flap``/``jammed`` fault as the intake knows it, for the fault monitor.

    The flap driver reports a jam only after a failed cycle, and a restarted driver
    reports ``ok`` before it has moved: this latch keeps the fault raised from the jam
    until the flap is seen working again, across restarts.
    """

    component = "flap"

    def __init__(self, jammed: Callable[[], bool]) -> None:
        self._jammed = jammed

    def status(self) -> DeviceStatus:
        """Failed while the intake holds a jam."""
        if self._jammed():
            return DeviceStatus(
                "failed", "jammed", "flap jammed with an item on the tray; door locked"
            )
        return DeviceStatus.ok()


class Alarms:
    """Active alarms and faults, kept in the bin's state and reported as events."""

    def __init__(self, state: BinState, emit: EmitEvent, devices: Iterable[Device]) -> None:
        self._state = state
        self._emit = emit
        device_faults: dict[tuple[str, str], str | None] = {}
        for key, detail in state.active_faults.items():
            component, _, code = key.partition("/")
            if component not in NON_DEVICE_COMPONENTS:
                device_faults[(component, code)] = detail
        self.fault_monitor = FaultMonitor(devices, self._record_fault, initial=device_faults)

    def set_alarm(self, kind: str, active: bool, detail: str | None = None) -> None:
        """Raise or clear an alarm; only changes produce an event."""
        state = self._state
        if active == (kind in state.active_alarms):
            return
        if active:
            state.active_alarms[kind] = detail
        else:
            state.active_alarms.pop(kind, None)
        log.warning("alarm %s %s: %s", kind, "raised" if active else "cleared", detail)
        self._emit("alarm", {"kind": kind, "active": active, "detail": detail})

    def _record_fault(self, component: str, code: str, active: bool, detail: str | None) -> None:
        """Store one fault transition with the state that remembers it (one transaction)."""
        key = f"{component}/{code}"
        if active:
            self._state.active_faults[key] = detail
        else:
            self._state.active_faults.pop(key, None)
        fields = {"component": component, "code": code, "active": active, "detail": detail}
        self._emit("fault", fields)

    def set_fault(self, component: str, code: str | None, detail: str | None = None) -> None:
        """Set the one fault of a non-device component (storage, network); None clears it."""
        prefix = f"{component}/"
        current = [k for k in self._state.active_faults if k.startswith(prefix)]
        if current == ([f"{prefix}{code}"] if code else []):
            return
        for key in current:
            log.info("fault %s cleared", key)
            self._record_fault(component, key[len(prefix) :], False, "recovered")
        if code is not None:
            log.warning("fault %s/%s: %s", component, code, detail)
            self._record_fault(component, code, True, detail)

    def check_devices(self) -> None:
        """Turn device status changes into fault events (raised once, cleared once)."""
        self.fault_monitor.poll()

    def sensor_health(self) -> dict[str, ComponentHealth]:
        """Worst health per contract component, for ``health.sensors``."""
        sensors = self.fault_monitor.sensors()
        for component in NON_DEVICE_COMPONENTS:
            faulty = any(k.startswith(f"{component}/") for k in self._state.active_faults)
            sensors[component] = "degraded" if faulty else "ok"
        return sensors
