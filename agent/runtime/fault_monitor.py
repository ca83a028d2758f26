"""Turning device health into ``events/fault`` transitions and the health ``sensors`` map.

The monitor polls every device's ``status()``, remembers which (component, code) faults
are active, and calls ``emit`` once when a fault appears and once when it clears (on
recovery, or when the device reports a different fault instead). Component names are
the contract's: devices named otherwise (``beam``, ``lock``, ``temperature``, ...) are
mapped to the component a technician would look at.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import get_args

from agent.hardware.devices import Device
from protocol.messages import ComponentHealth, FaultComponent

logger = logging.getLogger(__name__)

CONTRACT_COMPONENTS: frozenset[str] = frozenset(get_args(FaultComponent))
ALIASES = {
    "beam": "door",
    "lock": "door",
    "indicators": "door",
    "door_switch": "door",
    "temperature": "ultrasonic",
    "fill": "ultrasonic",
    "scale": "loadcell",
}
_RANK: dict[ComponentHealth, int] = {"ok": 0, "degraded": 1, "failed": 2}

Emit = Callable[[str, str, bool, str | None], None]
"""``emit(component, code, active, detail)``: publish one ``events/fault``."""


def contract_component(name: str) -> str | None:
    """The ``events/fault`` component a device name belongs to (None: not reportable)."""
    mapped = ALIASES.get(name, name)
    return mapped if mapped in CONTRACT_COMPONENTS else None


@dataclass(frozen=True, slots=True)
class FaultChange:
    """One transition the monitor emitted."""

    component: str
    code: str
    active: bool
    detail: str | None


class FaultMonitor:
    """Watches devices' health; thread-safe, so a health timer and a state machine may
    both call :meth:`poll`."""

    def __init__(
        self,
        devices: Iterable[Device],
        emit: Emit,
        *,
        initial: dict[tuple[str, str], str | None] | None = None,
    ) -> None:
        """``initial`` holds the faults raised before a restart, so they are not raised
        again, and are cleared if the device has recovered meanwhile."""
        self._devices = list(devices)
        self._emit = emit
        self._lock = threading.Lock()
        self._active: dict[tuple[str, str], str | None] = dict(initial or {})
        self._sensors: dict[str, ComponentHealth] = {}
        for device in self._devices:
            if contract_component(device.component) is None:
                logger.warning(
                    "device %r reports component %r, which events/fault does not know",
                    device,
                    device.component,
                )

    def poll(self) -> list[FaultChange]:
        """Read every status, emit the transitions since the last poll, return them."""
        with self._lock:
            now_active: dict[tuple[str, str], str | None] = {}
            sensors: dict[str, ComponentHealth] = {}
            for device in self._devices:
                component = contract_component(device.component)
                if component is None:
                    continue
                status = device.status()
                worst = sensors.get(component, "ok")
                if _RANK[status.health] > _RANK[worst]:
                    worst = status.health
                sensors[component] = worst
                if status.health != "ok":
                    code = status.code or status.health
                    now_active.setdefault((component, code), status.detail)
            changes = [
                FaultChange(component, code, False, "recovered")
                for (component, code) in self._active
                if (component, code) not in now_active
            ]
            changes += [
                FaultChange(component, code, True, detail)
                for (component, code), detail in now_active.items()
                if (component, code) not in self._active
            ]
            self._active = now_active
            self._sensors = sensors
        for change in changes:
            log = logger.warning if change.active else logger.info
            log(
                "fault %s/%s %s: %s",
                change.component,
                change.code,
                "raised" if change.active else "cleared",
                change.detail,
            )
            self._emit(change.component, change.code, change.active, change.detail)
        return changes

    def sensors(self) -> dict[str, ComponentHealth]:
        """Worst health per component at the last poll, for the ``health`` message."""
        with self._lock:
            return dict(self._sensors)

    def active(self) -> dict[tuple[str, str], str | None]:
        """The faults active at the last poll: (component, code) -> detail."""
        with self._lock:
            return dict(self._active)
