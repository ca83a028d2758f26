"""The container's fill and temperature: samples, and the rules applied to them.

The temperature raises the ``fire`` alarm; the fill locks the door at ``lock_fill_pct``
(``overflow``) and unlocks it below ``unlock_fill_pct``; a fall of the fill confirmed by
a second reading is an emptying (:func:`protocol.emptying.is_emptying`), which resets the
container's counters and is reported as ``events/emptied``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agent.hardware.devices import BinHardware, DeviceError
from agent.runtime.alarms import Alarms
from agent.runtime.lock import DoorLock
from agent.runtime.writes import DurableWrites
from agent.storage.state import BinState
from firmware_config.schema import Thresholds
from protocol.emptying import is_emptying

log = logging.getLogger(__name__)

FIRE_CLEAR_MARGIN_C = 5.0
"""The fire alarm clears only this far below its limit (no flapping at the limit)."""


class Container:
    """Samples the fill and the temperature and applies the container's rules."""

    def __init__(
        self,
        state: BinState,
        hardware: BinHardware,
        *,
        thresholds: Callable[[], Thresholds],
        alarms: Alarms,
        lock: DoorLock,
        writes: DurableWrites,
    ) -> None:
        """``thresholds`` gives the ones in force (a remote configuration may change them)."""
        self._state = state
        self._hardware = hardware
        self._thresholds = thresholds
        self._alarms = alarms
        self._lock = lock
        self._writes = writes

    def sample_temperature(self) -> None:
        """Read the container temperature (speed of sound, fire alarm)."""
        temp = self._hardware.temperature.read_c()
        self._state.temp_c = None if temp is None else round(temp, 1)
        self._check_fire(temp)

    def sample_fill(self) -> None:
        """Measure the fill, then apply the overflow and emptied rules."""
        state = self._state
        try:
            reading = self._hardware.fill.measure(state.temp_c)
        except DeviceError as err:
            log.warning("fill measurement failed: %s", err)
            state.fill_pct = None
            state.fill_mm = None
            self._writes.save_state(durable=False)
            self._alarms.check_devices()
            return
        previous = state.fill_pct
        state.fill_pct = round(reading.fill_pct, 1)
        state.fill_mm = round(reading.distance_mm, 1)
        self._check_emptied(previous, reading.fill_pct)
        if previous is not None:
            # a level seen on two readings in a row: one wild reading makes no peak
            seen_twice = min(previous, reading.fill_pct)
            state.fill_peak_pct = max(state.fill_peak_pct, seen_twice)
        self._check_overflow(reading.fill_pct)
        self._writes.save_state(durable=False)
        self._alarms.check_devices()

    def _check_fire(self, temp: float | None) -> None:
        limit = self._thresholds().fire_temp_c
        if temp is None:
            return
        if temp >= limit:
            self._alarms.set_alarm(
                "fire", True, f"container at {temp:.1f} °C (limit {limit:.0f} °C)"
            )
        elif temp < limit - FIRE_CLEAR_MARGIN_C:
            self._alarms.set_alarm("fire", False)

    def _check_overflow(self, fill: float) -> None:
        thresholds = self._thresholds()
        if fill >= thresholds.lock_fill_pct and "overflow" not in self._state.active_alarms:
            self._lock.request("overflow", True)
            self._hardware.indicators.show("amber")
            self._alarms.set_alarm(
                "overflow",
                True,
                f"fill {fill:.0f}% >= {thresholds.lock_fill_pct:.0f}%: door locked",
            )
        elif fill < thresholds.unlock_fill_pct and "overflow" in self._state.active_alarms:
            self._lock.request("overflow", False)
            self._hardware.indicators.show(None)
            self._alarms.set_alarm("overflow", False, f"fill {fill:.0f}%: door unlocked")

    def _check_emptied(self, previous: float | None, fill: float) -> None:
        """Two consecutive readings well below the peak mean the container was emptied
        (:func:`protocol.emptying.is_emptying`)."""
        thresholds = self._thresholds()
        state = self._state
        if not is_emptying(
            state.fill_peak_pct,
            fill,
            drop_pct=thresholds.empty_drop_pct,
            below_pct=thresholds.empty_below_pct,
            min_drop_pct=thresholds.empty_min_drop_pct,
        ):
            state.empty_candidate = False
            return
        if not state.empty_candidate:
            state.empty_candidate = True
            return
        fields = {
            "fill_before_pct": round(min(state.fill_peak_pct, 100.0), 1),
            "fill_after_pct": round(fill, 1),
            "weight_before_kg": round(state.contents_g / 1000.0, 3),
            "pickup_id": None,
        }
        log.info("container emptied (fill %.0f%% -> %.0f%%)", state.fill_peak_pct, fill)
        state.empty_candidate = False
        state.fill_peak_pct = fill
        state.deposits_since_empty = 0
        state.contents_g = 0.0
        self._writes.emit_event("emptied", fields)
