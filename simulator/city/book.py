"""What is really in every bin under one policy: fill, collections, overflows, visitors away.

The world's deposits are fixed in advance (:mod:`simulator.city.world`); a policy only
decides when crews empty bins. So a bin's contents at any time follow from the deposits
since its last emptying, and being full is one index: the deposit that brings the bin to
``full_l`` (the *crossing*). Every later visitor, until the next emptying, finds it
full and goes away. The book keeps, per bin, the prefix sum of litres at the last
emptying and the crossing of the current cycle, so reading the whole city's fill is a
few array operations, however many visitors came.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.city.world import BoolArray, CityWorld, FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class Collection:
    """A bin emptied by a crew: when, and how full it was (% of its container)."""

    bin: int
    at: float
    fill_pct: float
    litres: float


class FillBook:
    """Every bin's true contents over time under one policy (times in seconds)."""

    def __init__(self, world: CityWorld, *, measure_from: float = 0.0) -> None:
        self.world = world
        self.measure_from = measure_from
        """Collections, overflows and turned-away visitors before this are not counted
        (a warm-up)."""
        self._prefix: FloatArray = np.concatenate(([0.0], np.cumsum(world.dep_l)))
        self._end: IntArray = world.first[1:]
        self.base: FloatArray = self._prefix[world.first[:-1]] - world.initial_l
        """Prefix litres at the last emptying (the initial contents count before it)."""
        self.cycle_first: IntArray = world.first[:-1].copy()
        """Each bin's first deposit after its last emptying."""
        self.next: IntArray = world.first[:-1].copy()
        """Each bin's first deposit that has not happened yet."""
        self.cross: IntArray = self._crossing(self.base, np.arange(world.size))
        self._order: IntArray = np.argsort(world.dep_t, kind="stable").astype(np.int64)
        self._cursor = 0
        self.now = 0.0
        self.accepted: BoolArray = np.zeros(len(world.dep_t), dtype=np.bool_)
        """Deposits of closed cycles that the bin took (marked when it is emptied)."""
        self.collections: list[Collection] = []
        self.overflows: list[tuple[int, float, float]] = []
        """(bin, full since, emptied at) of every measured overflow."""
        self.turned_away = 0

    # -- time ---------------------------------------------------------------------------

    def advance(self, until: float) -> IntArray:
        """Let the visitors up to ``until`` come; return their deposits, in time order."""
        world = self.world
        stop = int(np.searchsorted(world.dep_t[self._order], until, side="right"))
        window = self._order[self._cursor : stop]
        self._cursor = stop
        if len(window):
            self.next += np.bincount(world.dep_bin[window], minlength=world.size)
        self.now = until
        return window

    def took(self, deposits: IntArray) -> BoolArray:
        """Whether each of ``deposits`` (already happened) went into its bin."""
        bins = self.world.dep_bin[deposits]
        current = deposits >= self.cycle_first[bins]
        result: BoolArray = np.where(current, deposits <= self.cross[bins], self.accepted[deposits])
        return result

    # -- reading ------------------------------------------------------------------------

    def litres(self) -> FloatArray:
        """Every bin's contents now."""
        happened = self._prefix[self.next] - self.base
        capped = self._prefix[np.minimum(self.cross + 1, len(self._prefix) - 1)] - self.base
        full = self.cross < self.next
        result: FloatArray = np.minimum(np.where(full, capped, happened), self.world.container_l)
        return result

    def fill_pct(self) -> FloatArray:
        """Every bin's fill now, % of its container."""
        result: FloatArray = self.litres() / self.world.container_l * 100.0
        return result

    def full(self) -> BoolArray:
        """Which bins are full now (turning visitors away)."""
        result: BoolArray = self.cross < self.next
        return result

    def full_at(self, index: int) -> float:
        """When the bin is (or will be, if nobody empties it) full; inf if not in the run."""
        cross = int(self.cross[index])
        return math.inf if cross >= self._end[index] else float(self.world.dep_t[cross])

    def litres_at(self, index: int, when: float) -> float:
        """The bin's contents at ``when`` (now or later) if nobody empties it before."""
        upto = self._upto(index, when)
        cross = int(self.cross[index])
        top = min(upto, cross + 1)
        return min(
            float(self._prefix[top] - self.base[index]), float(self.world.container_l[index])
        )

    # -- crews --------------------------------------------------------------------------

    def collect(self, index: int, when: float) -> Collection:
        """A crew empties bin ``index`` at ``when`` (not before the last :meth:`advance`
        minus a step: deposits up to ``when`` are counted from the world)."""
        upto = self._upto(index, when)
        cross = int(self.cross[index])
        first = int(self.cycle_first[index])
        taken_end = min(upto, cross + 1)
        self.accepted[first:taken_end] = True
        litres = min(
            float(self._prefix[taken_end] - self.base[index]), float(self.world.container_l[index])
        )
        fill = litres / float(self.world.container_l[index]) * 100.0
        if cross < upto:
            self._overflowed(index, cross, upto, when)
        collection = Collection(index, when, fill, litres)
        if when >= self.measure_from:
            self.collections.append(collection)
        self.base[index] = self._prefix[upto]
        self.cycle_first[index] = upto
        self.cross[index] = self._crossing(self.base[index : index + 1], np.array([index]))[0]
        return collection

    def finish(self, end: float) -> None:
        """Count the overflows still going on at the end of the run."""
        for index in np.flatnonzero(self.full()):
            upto = self._upto(int(index), end)
            self._overflowed(int(index), int(self.cross[index]), upto, end)

    # -- internals ----------------------------------------------------------------------

    def _upto(self, index: int, when: float) -> int:
        """Index after the bin's last deposit at or before ``when``."""
        world = self.world
        lo, hi = int(world.first[index]), int(self._end[index])
        return lo + int(np.searchsorted(world.dep_t[lo:hi], when, side="right"))

    def _crossing(self, base: FloatArray, bins: IntArray) -> IntArray:
        """The deposit that fills each bin to ``full_l`` after ``base`` (its end if none)."""
        target = base + self.world.full_l[bins]
        cross = np.searchsorted(self._prefix, target, side="left") - 1
        result: IntArray = np.minimum(np.maximum(cross, self.world.first[bins]), self._end[bins])
        return result.astype(np.int64)

    def _overflowed(self, index: int, cross: int, upto: int, until: float) -> None:
        """Record the bin full from its crossing until ``until`` (the measured part)."""
        world = self.world
        since = float(world.dep_t[cross])
        start = max(since, self.measure_from)
        if until > start:
            self.overflows.append((index, start, until))
        refused = world.dep_t[cross + 1 : upto]
        self.turned_away += int(np.count_nonzero(refused >= self.measure_from))
