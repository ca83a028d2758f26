"""A discrete-event loop on a virtual clock, paced against real time.

World actions (a visitor opening a door, a crew emptying a container) and agents asking
to be stepped are kept in one heap and run in virtual-time order. ``speed`` ties virtual
time to real time (virtual seconds per real second; 0 runs as fast as possible), so MQTT
traffic to a real broker keeps a realistic rhythm at moderate speeds.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Protocol

from agent.runtime import AgentRuntime


class VirtualClock(Protocol):
    """What the loop needs of a clock: read it and move it forward."""

    def monotonic(self) -> float:
        """Virtual seconds."""
        ...

    def advance(self, seconds: float) -> None:
        """Move virtual time forward."""
        ...


class AgentStepper:
    """Steps one agent runtime when it asks to be, or sooner when poked."""

    def __init__(self, loop: EventLoop, runtime: AgentRuntime) -> None:
        self.loop = loop
        self.runtime = runtime
        self.next_wake = math.inf

    def poke(self, delay: float = 0.0) -> None:
        """Step the agent ``delay`` seconds from now (what an edge interrupt does)."""
        when = self.loop.clock.monotonic() + delay
        if when < self.next_wake:
            self.next_wake = when
            self.loop.at(when, lambda: self._step(when))

    def _step(self, scheduled: float) -> None:
        if scheduled != self.next_wake:
            return  # superseded by an earlier wake-up
        self.next_wake = math.inf
        wanted = self.runtime.step()
        self.poke(max(wanted - self.loop.clock.monotonic(), 0.0))


class EventLoop:
    """Timed actions in virtual-time order."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action`` at virtual monotonic time ``when``."""
        heapq.heappush(self._heap, (when, next(self._order), action))

    def after(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay`` virtual seconds from now."""
        self.at(self.clock.monotonic() + delay, action)

    def stepper(self, runtime: AgentRuntime) -> AgentStepper:
        """A stepper for an agent on this loop (poke it once to start it)."""
        return AgentStepper(self, runtime)

    def run(
        self,
        seconds: float,
        *,
        speed: float = 0.0,
        after_each: Callable[[], None] | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        """Run actions for ``seconds`` of virtual time, paced at ``speed``."""
        start_virtual = self.clock.monotonic()
        end = start_virtual + seconds
        start_real = time.monotonic()
        last_report = 0.0
        while self._heap and self._heap[0][0] <= end:
            when, _, action = heapq.heappop(self._heap)
            if speed > 0:
                lead = (when - start_virtual) / speed - (time.monotonic() - start_real)
                if lead > 0:
                    time.sleep(min(lead, 0.25))
            self.clock.advance(max(when - self.clock.monotonic(), 0.0))
            action()
            if after_each is not None:
                after_each()
            if progress and time.monotonic() - last_report > 0.2:
                last_report = time.monotonic()
                progress((self.clock.monotonic() - start_virtual) / seconds)
        self.clock.advance(max(end - self.clock.monotonic(), 0.0))
        if progress:
            progress(1.0)
