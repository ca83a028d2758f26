"""The people who come to one bin: open the door, put an item in, close it, look.

A visitor arrives (see :class:`simulator.world.arrivals.ArrivalProcess`), deposits one to three
items one after the other and takes back whatever the bin rejects. A locked door turns
them away. The same behaviour runs in the fleet's discrete-event loop and, for a single
simulated bin under ``bin-agent run``, on a real-time scheduler thread.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from agent.clock import Clock
from simulator.device.physical import Item, PhysicalBin
from simulator.world.arrivals import ArrivalProcess, ItemCatalog

log = logging.getLogger(__name__)

OPEN_TO_PLACE_S = 2.0
PLACE_TO_CLOSE_S = 2.0
CLOSE_TO_LOOK_S = 2.5
"""A visitor looks at the tray this long after closing the door (the bin decides in < 1.5 s)."""
BUSY_RETRY_S = 20.0


class Scheduler(Protocol):
    """Runs world actions at times to come, and nudges the bin's agent."""

    def after(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay`` seconds from now."""
        ...

    def poke(self) -> None:
        """Tell the bin's agent something changed (what an edge interrupt does)."""
        ...


@dataclass
class VisitCounters:
    """What the visitors of one bin did."""

    visitors: int = 0
    items: int = 0
    accepted: int = 0
    rejected: int = 0
    turned_away: int = 0


class Visitors:
    """The stream of visitors of one bin."""

    def __init__(
        self,
        physical: PhysicalBin,
        arrivals: ArrivalProcess,
        catalog: ItemCatalog,
        scheduler: Scheduler,
        clock: Clock,
    ) -> None:
        self.physical = physical
        self.arrivals = arrivals
        self.catalog = catalog
        self.scheduler = scheduler
        self.clock = clock
        self.counters = VisitCounters()
        self.last_item: Item | None = None
        """The item most recently put on the tray (what the bin is deciding on)."""
        self._busy = False

    def start(self) -> None:
        """Schedule the first visitor."""
        self._schedule_visit()

    def _schedule_visit(self) -> None:
        gap = self.arrivals.next_after(self.clock.now())
        if math.isfinite(gap):
            self.scheduler.after(gap, self._visit)

    def _visit(self) -> None:
        self._schedule_visit()
        self.counters.visitors += 1
        self._deposit(self.arrivals.items_per_visit())

    def _deposit(self, items_left: int) -> None:
        physical = self.physical
        if physical.door_locked:
            self.counters.turned_away += 1
            return
        if self._busy or physical.door_open or physical.tray is not None:
            self.scheduler.after(BUSY_RETRY_S, lambda: self._deposit(items_left))
            return
        self._busy = True
        item = self.catalog.draw()
        physical.door_open = True
        self.scheduler.poke()
        self.scheduler.after(OPEN_TO_PLACE_S, lambda: self._place(item))
        self.scheduler.after(OPEN_TO_PLACE_S + PLACE_TO_CLOSE_S, self._close)
        self.scheduler.after(
            OPEN_TO_PLACE_S + PLACE_TO_CLOSE_S + CLOSE_TO_LOOK_S, lambda: self._look(items_left)
        )

    def _place(self, item: Item) -> None:
        self.physical.place_on_tray(item)
        self.last_item = item
        self.counters.items += 1
        self.scheduler.poke()

    def _close(self) -> None:
        self.physical.door_open = False
        self.scheduler.poke()

    def _look(self, items_left: int) -> None:
        if self.physical.tray is None:  # the flap took it: accepted
            self.counters.accepted += 1
            self._next_item(items_left, 3.0)
            return
        self.counters.rejected += 1
        if self.physical.door_locked:  # a jammed flap locked the door: nothing to do
            self._next_item(0, 0.0)
            return
        self.physical.door_open = True
        self.scheduler.poke()
        self.scheduler.after(2.0, lambda: self._take_back(items_left))

    def _take_back(self, items_left: int) -> None:
        self.physical.take_from_tray()
        self.physical.door_open = False
        self.scheduler.poke()
        self._next_item(items_left, 5.0)

    def _next_item(self, items_left: int, delay: float) -> None:
        self._busy = False
        if items_left > 1:
            self.scheduler.after(delay, lambda: self._deposit(items_left - 1))


class RealtimeScheduler:
    """A thread running world actions on a clock, for one bin under ``bin-agent run``.

    The agent there polls its door, so ``poke`` has nothing to do.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-world", daemon=True)

    def after(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay`` seconds from now on the clock."""
        with self._cv:
            heapq.heappush(self._heap, (self.clock.monotonic() + delay, next(self._order), action))
            self._cv.notify()

    def poke(self) -> None:
        """Nothing: the agent polls its door."""

    def start(self) -> None:
        """Start running actions."""
        self._thread.start()

    def stop(self) -> None:
        """Stop running actions."""
        self._stop.set()
        with self._cv:
            self._cv.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cv:
                if not self._heap:
                    self._cv.wait(timeout=1.0)
                    continue
                when, _, action = self._heap[0]
                wait = when - self.clock.monotonic()
                if wait > 0:
                    self._cv.wait(timeout=min(wait, 1.0))
                    continue
                heapq.heappop(self._heap)
            try:
                action()
            except Exception:
                log.exception("simulated world action failed")


class StandaloneWorld:
    """Visitors for one simulated bin run by ``bin-agent run`` (real time)."""

    def __init__(
        self,
        physical: PhysicalBin,
        clock: Clock,
        *,
        seed: int,
        peak_per_hour: float,
        rhythm: bool = True,
    ) -> None:
        rng = random.Random(seed)
        self.scheduler = RealtimeScheduler(clock)
        arrivals = ArrivalProcess(rng, peak_per_hour, rhythm=rhythm)
        self.visitors = Visitors(physical, arrivals, ItemCatalog(rng), self.scheduler, clock)

    def start(self) -> None:
        """Let visitors come."""
        self.visitors.start()
        self.scheduler.start()

    def stop(self) -> None:
        """No more visitors."""
        self.scheduler.stop()
