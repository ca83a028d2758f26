"""The intake door's lock: locked while any reason holds (overflow, jam, remote).

The reasons live in the bin's state, so a locked bin stays locked through a restart.
Unlocking happens at once; locking waits until the door is seen closed, so the lock
never shoots its bolt into an open door (nor one whose switch cannot be read).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.hardware.devices import BinHardware, DeviceError
from agent.storage.state import BinState

log = logging.getLogger(__name__)


class DoorLock:
    """Drives the lock solenoid to what the bin's lock reasons want."""

    def __init__(
        self, state: BinState, hardware: BinHardware, save_state: Callable[[], None]
    ) -> None:
        self._state = state
        self._hardware = hardware
        self._save_state = save_state
        self.deferred = False
        """Locking waits for the door to be seen closed."""

    def request(self, reason: str, locked: bool) -> None:
        """Lock the intake door while any reason holds (overflow, jam, remote)."""
        reasons = set(self._state.lock_reasons)
        if locked:
            reasons.add(reason)
        else:
            reasons.discard(reason)
        if reasons == set(self._state.lock_reasons):
            return
        self._state.lock_reasons = sorted(reasons)
        # The door first: a database refusing writes must not leave it unlocked.
        self.apply()
        self._save_state()

    def apply(self, door_open: bool | None = None) -> None:
        """Drive the lock to what the reasons want: unlocking at once, locking only once
        the door is seen closed (never on an open door, nor one whose switch cannot be
        read). ``door_open`` is a switch reading just taken (None: read it now)."""
        wanted = bool(self._state.lock_reasons)
        lock = self._hardware.lock
        if wanted == lock.locked:
            self.deferred = False
            return
        if wanted:
            if door_open is None:
                try:
                    door_open = self._hardware.door.is_open()
                except DeviceError:
                    door_open = True
            if door_open:
                if not self.deferred:
                    log.warning(
                        "door lock (%s) deferred until the door is seen closed",
                        ", ".join(self._state.lock_reasons),
                    )
                    self.deferred = True
                return
        self.deferred = False
        lock.set_locked(wanted)
