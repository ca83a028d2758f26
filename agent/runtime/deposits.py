"""Deposits as the container and the tray see them.

An accepted deposit adds to the container's count and weight; a deposit held by a
jammed flap is remembered and counted once the flap works. A rejected item may still
lie on the tray until the door opens again: while it may, or while a deposit is in
progress or the flap is jammed, the tray is not known to be empty, so it is neither
weighed for its drift nor tared, and no self-test cycles the flap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict

from agent.hardware.devices import BinHardware, DeviceError
from agent.intake import Decision, IntakeMachine, Phase
from agent.runtime.alarms import EmitEvent
from agent.storage.state import BinState, JammedDeposit

log = logging.getLogger(__name__)

DepositListener = Callable[[Decision], None]
"""Called with every decision once it is stored (simulator displays, tests)."""


class Deposits:
    """Records the intake's decisions and knows whether the tray may hold an item."""

    def __init__(
        self,
        state: BinState,
        hardware: BinHardware,
        *,
        emit: EmitEvent,
        check_devices: Callable[[], None],
        fill_changed: Callable[[], None],
    ) -> None:
        """``fill_changed`` is called when items reached the container: the fill is
        re-measured soon and reported."""
        self._state = state
        self._hardware = hardware
        self._emit = emit
        self._check_devices = check_devices
        self._fill_changed = fill_changed
        self.listeners: list[DepositListener] = []
        """Called with every decision once it is stored (simulator displays, tests)."""
        self.rejected_on_tray = False
        """A rejected item may still lie on the tray (until the door opens again)."""

    def record(self, decision: Decision) -> None:
        """Store the deposit event; count accepted items; re-measure the fill soon.

        A deposit held by a jammed flap is remembered (with the event, in one write) and
        counted once the flap works (:meth:`count_jammed`).
        """
        state = self._state
        jammed = decision.reason == "flap_jammed"
        self.rejected_on_tray = not decision.accepted and not jammed
        if jammed:
            state.jammed_deposit = JammedDeposit(
                deposit_id=decision.deposit_id,
                category=decision.category,
                weight_g=decision.weight_g,
            )
        if decision.accepted:
            state.deposits_since_empty += 1
            state.contents_g += decision.weight_g
            self._fill_changed()
        self._emit("deposit", asdict(decision))
        for listener in self.listeners:
            listener(decision)
        self._check_devices()

    def count_jammed(self) -> None:
        """The jammed item is in the container now: count it, once (no second event)."""
        state = self._state
        jammed = state.jammed_deposit
        if jammed is None:
            return
        log.info("deposit %s reached the container once the flap worked", jammed.deposit_id)
        state.jammed_deposit = None
        state.deposits_since_empty += 1
        state.contents_g += jammed.weight_g
        self._fill_changed()

    def door_seen_open(self) -> None:
        """An open door lets the consumer take a rejected item back."""
        self.rejected_on_tray = False

    def tray_idle_g(self, intake: IntakeMachine | None) -> float | None:
        """The tray's weight while it is known empty (its drift from zero), else None.

        Read only between deposits with the door closed, never after a rejected item
        that may still lie there (until the door opens again), and never while the
        flap is jammed with an item on the tray. A scale failure gives None.
        """
        if intake is None or intake.phase is not Phase.IDLE or self.rejected_on_tray:
            return None
        try:
            if self._hardware.door.is_open():
                return None
            return round(self._hardware.scale.read_g(), 1)
        except DeviceError:
            return None

    def tray_occupied(self, intake: IntakeMachine | None) -> str | None:
        """Why the tray may hold an item now (None: known empty as far as the bin can tell).

        A tare then would take the item for the zero, and a self-test's flap cycle would
        drop it uncounted: a deposit in progress, a jammed flap (its item still lies on
        the tray), a rejected item not yet taken back, or a broken beam.
        """
        if intake is not None:
            if intake.busy:
                return "a deposit is in progress"
            if intake.phase is Phase.JAMMED:
                return "the flap is jammed with an item on the tray"
        if self.rejected_on_tray:
            return "a rejected item may still lie on the tray"
        try:
            if self._hardware.beam.is_broken():
                return "the intake beam is broken: something is in the chamber"
        except DeviceError:
            pass  # a failed beam says nothing about the tray (the self-test reports it)
        return None
