"""The engine's counters since it started, and the condition other threads wait on.

The writer thread counts what it commits, publishes, ticks and settles; the paho
thread counts what it receives and drops. Tests wait on :meth:`StatsBoard.wait_for`
instead of sleeping: every change notifies. The API, which must hold no thread while
it waits for a command's answer, asks to be called back instead (:meth:`StatsBoard.watch`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from cloud_bridge.engine.processor import BatchOutcome

SETTLED_MEMORY = 10_000
"""How many recently settled command ids :meth:`StatsBoard.is_settled` remembers."""


@dataclass(frozen=True, slots=True)
class BridgeStats:
    """Counters since the bridge started (not persisted; the store holds the totals)."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    published: int = 0
    unconfirmed: int = 0
    connections: int = 0
    dropped: int = 0
    """QoS 0 messages dropped unread because the queue was full (also in ``rejected``)."""
    ticks: int = 0
    """Policy ticks run (forecasts, escalation)."""
    actions: int = 0
    """Schedulers' and technicians' actions carried out."""
    unknown_desired: int = 0
    """Desired configurations found on the broker that the bridge had not issued
    (adopted or cleared, as ``remote_config.unknown_desired`` says)."""
    acked: int = 0
    """Bin messages (``seq`` values) named in the acks published to their bins."""

    @property
    def processed(self) -> int:
        """Messages committed one way or another: stored, duplicate or rejected."""
        return self.stored + self.duplicates + sum(self.rejected.values())


class StatsBoard:
    """The counters behind :class:`BridgeStats`, updated under one condition.

    ``received`` and ``dropped`` are written by the paho thread only (no lock: one
    writer, and readers only need a recent value); everything else changes under the
    condition, which wakes whoever waits.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._committed = BridgeStats()
        self._ticks = 0
        self._actions = 0
        self._settled: OrderedDict[str, None] = OrderedDict()
        self._watchers: dict[str, list[Callable[[], None]]] = {}
        self.received = 0
        """Messages handed over by the broker link (paho thread)."""
        self.dropped = 0
        """QoS 0 messages dropped because the ingest queue was full (paho thread)."""

    def snapshot(self, *, unconfirmed: int, connections: int) -> BridgeStats:
        """The counters now, with the writer's unconfirmed publications and the link's
        connection count (which they own)."""
        with self._changed:
            committed = self._committed
            return BridgeStats(
                received=self.received,
                stored=committed.stored,
                duplicates=committed.duplicates,
                rejected=dict(committed.rejected),
                batches=committed.batches,
                published=committed.published,
                unconfirmed=unconfirmed,
                connections=connections,
                dropped=self.dropped,
                ticks=self._ticks,
                actions=self._actions,
                unknown_desired=committed.unknown_desired,
                acked=committed.acked,
            )

    def wait_for(self, ready: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``ready()`` holds, looking again at each change; False on timeout."""
        with self._changed:
            return self._changed.wait_for(ready, timeout)

    def notify(self) -> None:
        """Wake the waiters (something they may look at changed)."""
        with self._changed:
            self._changed.notify_all()

    def count_batch(self, outcome: BatchOutcome) -> None:
        """A batch of received messages was committed."""
        with self._changed:
            committed = self._committed
            rejected = dict(committed.rejected)
            for reason, count in outcome.rejected.items():
                rejected[reason] = rejected.get(reason, 0) + count
            self._committed = replace(
                committed,
                stored=committed.stored + outcome.stored,
                duplicates=committed.duplicates + outcome.duplicates,
                rejected=rejected,
                batches=committed.batches + 1,
                unknown_desired=committed.unknown_desired + outcome.unknown_desired,
                acked=committed.acked + outcome.acked,
            )
            self._changed.notify_all()

    def count_published(self, confirmed: int) -> None:
        """The broker confirmed ``confirmed`` more publications."""
        with self._changed:
            committed = self._committed
            self._committed = replace(committed, published=committed.published + confirmed)
            self._changed.notify_all()

    def count_tick(self) -> None:
        """A policy tick ran."""
        with self._changed:
            self._ticks += 1
            self._changed.notify_all()

    def count_action(self) -> None:
        """A scheduler's or technician's action was carried out."""
        with self._changed:
            self._actions += 1
            self._changed.notify_all()

    def settle(self, command_ids: Sequence[str]) -> None:
        """Commands were answered or timed out: remember them (the newest few) and wake
        whoever waits for one, the watchers of :meth:`watch` included."""
        notify: list[Callable[[], None]] = []
        with self._changed:
            for command_id in command_ids:
                self._settled[command_id] = None
                self._settled.move_to_end(command_id)
                notify += self._watchers.pop(command_id, [])
            while len(self._settled) > SETTLED_MEMORY:
                self._settled.popitem(last=False)
            self._changed.notify_all()
        for callback in notify:
            callback()

    def watch(self, command_id: str, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify`` once the command is settled (at once if it already was, as far
        as this board remembers); return a function that stops watching.

        ``notify`` runs on the thread that settles (the writer), so it must only hand
        over, e.g. with ``loop.call_soon_threadsafe``. A waiter that holds no thread (the
        API's long polls) waits this way instead of in :meth:`wait_for`.
        """
        with self._changed:
            settled = command_id in self._settled
            if not settled:
                self._watchers.setdefault(command_id, []).append(notify)
        if settled:
            notify()

        def cancel() -> None:
            with self._changed:
                watchers = self._watchers.get(command_id)
                if watchers is not None and notify in watchers:
                    watchers.remove(notify)
                    if not watchers:
                        del self._watchers[command_id]

        return cancel

    def is_settled(self, command_id: str) -> bool:
        """Whether the command was settled since the bridge started (and is remembered)."""
        with self._changed:
            return command_id in self._settled
