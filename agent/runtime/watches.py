"""Watches on the door and the broker connection, run at every step or check.

The door watch locks a door waiting to be locked once it is seen closed, lets a
rejected item be taken back when it opens, and raises ``door_stuck`` when it stays open
too long. The network watch raises ``network``/``offline`` after a long enough outage.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.hardware.devices import BinHardware, DeviceError
from agent.runtime.alarms import Alarms
from agent.runtime.lock import DoorLock
from agent.runtime.reports import LinkStatus
from firmware_config.schema import Thresholds


class DoorWatch:
    """Follows the intake door between deposits."""

    def __init__(
        self,
        hardware: BinHardware,
        *,
        thresholds: Callable[[], Thresholds],
        lock: DoorLock,
        alarms: Alarms,
        on_open: Callable[[], None],
    ) -> None:
        """``on_open`` is called at every check that finds the door open."""
        self._hardware = hardware
        self._thresholds = thresholds
        self._lock = lock
        self._alarms = alarms
        self._on_open = on_open
        self.opened_at: float | None = None
        """When the door was first seen open (monotonic); None while it is closed."""

    def check(self, now: float) -> None:
        """Read the door switch and act on it (an unreadable switch counts as open)."""
        try:
            is_open = self._hardware.door.is_open()
        except DeviceError:
            self._lock.apply(door_open=True)  # unknown counts as open: never lock on it
            return
        self._lock.apply(door_open=is_open)
        if is_open:
            self._on_open()  # the consumer can take a rejected item back
        if not is_open:
            self.opened_at = None
            self._alarms.set_alarm("door_stuck", False)
            return
        if self.opened_at is None:
            self.opened_at = now
        limit = self._thresholds().door_open_alarm_s
        if now - self.opened_at >= limit:
            self._alarms.set_alarm("door_stuck", True, f"door open for more than {limit:.0f} s")

    def alarm_due(self) -> float | None:
        """When an open door becomes ``door_stuck`` (None: the door is closed)."""
        if self.opened_at is None:
            return None
        return self.opened_at + self._thresholds().door_open_alarm_s


class NetworkWatch:
    """Raises ``network``/``offline`` once the broker has been away long enough."""

    def __init__(
        self,
        link_status: LinkStatus,
        *,
        thresholds: Callable[[], Thresholds],
        alarms: Alarms,
    ) -> None:
        self._link_status = link_status
        self._thresholds = thresholds
        self._alarms = alarms
        self._offline_since: float | None = None

    def check(self, now: float) -> None:
        """Clear the fault while connected; raise it after ``offline_fault_s`` without."""
        connected, _ = self._link_status()
        if connected:
            self._offline_since = None
            self._alarms.set_fault("network", None)
            return
        if self._offline_since is None:
            self._offline_since = now
        elif now - self._offline_since >= self._thresholds().offline_fault_s:
            self._alarms.set_fault(
                "network", "offline", f"no broker connection for {now - self._offline_since:.0f} s"
            )
