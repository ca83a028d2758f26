"""The single writer thread: one queue in, batches committed, acknowledged, published.

The paho network thread only queues what arrives (:meth:`Writer.receive`); the writer
takes the queue in batches, commits each batch in one transaction through the
:class:`~cloud_bridge.engine.processor.Processor`, then acknowledges its messages to
the broker, publishes each bin's ``ack`` (what of it is now stored) and the pickups,
tickets and commands it decided. Between batches it runs the
policy tick on the bridge's clock and the calls other threads (the API) queue with
:meth:`Writer.call`: the writer owns the in-memory fleet and pickups and the database
connection, so nothing else needs a lock on them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from cloud_bridge.clock import Clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.domain.records import Publication
from cloud_bridge.engine.processor import INTERNAL_REASON, BatchOutcome, Processor
from cloud_bridge.engine.stats import StatsBoard
from cloud_bridge.errors import Unavailable
from cloud_bridge.store import Store

_T = TypeVar("_T")

logger = logging.getLogger(__name__)


class Outlet(Protocol):
    """What the writer needs of the broker link: acknowledge and publish."""

    def ack(self, item: Inbound) -> None:
        """Acknowledge a committed (or rejected) message."""
        ...

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish with QoS 1; return the packet id whose acknowledgement confirms it."""
        ...


@dataclass(frozen=True, slots=True)
class _Published:
    mid: int


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


@dataclass(frozen=True, slots=True)
class _Call:
    fn: Callable[[], Any]
    future: Future[Any]


_Item = Inbound | _Published | _Stop | _Call | list[Publication]


class Writer:
    """The thread that alone writes the store, from :meth:`start` to :meth:`stop`.

    ``wake_webhooks`` is called after a commit that queued webhook deliveries (the
    delivery worker, when the start-up wiring made one).
    """

    def __init__(
        self,
        settings: BridgeSettings,
        store: Store,
        processor: Processor,
        outlet: Outlet,
        clock: Clock,
        board: StatsBoard,
        *,
        wake_webhooks: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._processor = processor
        self._outlet = outlet
        self._clock = clock
        self._board = board
        self._wake_webhooks = wake_webhooks
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._dropped_counted = 0
        self._dropped_topic = ""
        self._unconfirmed: dict[int, int] = {}
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._stop_timeout = 10.0
        self._next_tick: datetime | None = None
        self.error: BaseException | None = None
        """Set if the writer thread died; the bridge then no longer stores anything."""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, republish: list[Publication]) -> None:
        """Start the thread; ``republish`` (what the outbox still holds) goes out first."""
        if republish:
            self._queue.put(republish)
        self._stop_requested.clear()
        self._thread = threading.Thread(target=self._run, name="bridge-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Commit and acknowledge what was queued, wait up to ``timeout`` for the broker to
        confirm the publications, then end the thread."""
        thread = self._thread
        if thread is None:
            return
        self._stop_timeout = timeout
        self._stop_requested.set()
        self._queue.put(_Stop())
        thread.join(timeout + 5.0)
        if thread.is_alive():
            logger.error("the writer did not finish within %.1f s", timeout + 5.0)
        self._thread = None

    @property
    def unconfirmed(self) -> int:
        """Publications the broker has not confirmed yet."""
        return len(self._unconfirmed)

    # -- from the paho thread -------------------------------------------------------------

    def receive(self, item: Inbound) -> None:
        """Queue a message (paho thread): never blocks; drops QoS 0 when the queue is full."""
        board = self._board
        board.received += 1
        if item.qos == 0 and self._queue.qsize() >= self._settings.ingest.queue_max:
            board.dropped += 1
            self._dropped_topic = item.topic
            if board.dropped == 1 or board.dropped % 10_000 == 0:
                logger.warning("ingest queue full: %d QoS 0 messages dropped", board.dropped)
            board.notify()
            return
        self._queue.put(item)

    def published(self, mid: int) -> None:
        """The broker confirmed publication ``mid`` (paho thread)."""
        self._queue.put(_Published(mid))

    # -- from other threads (the API) -----------------------------------------------------

    def call(self, fn: Callable[[], _T], timeout: float | None = None) -> _T:
        """Run ``fn`` on the writer thread, between batches; return its result or raise
        its error (:class:`Unavailable` when the writer is not running or does not answer
        within ``timeout``, by default ``api.action_timeout_s``)."""
        if self._thread is None or not self._thread.is_alive() or self._stop_requested.is_set():
            raise Unavailable("the bridge is not running")
        future: Future[_T] = Future()
        self._queue.put(_Call(fn, future))
        wait = self._settings.api.action_timeout_s if timeout is None else timeout
        try:
            return future.result(wait)
        except FutureTimeout:
            if future.cancel():  # still queued: it will never run
                raise Unavailable("the bridge did not answer in time; nothing was done") from None
        try:  # the writer has started it: give it as long again to finish
            return future.result(wait)
        except FutureTimeout:
            raise Unavailable(
                "the bridge did not answer in time; the action has started and may still complete"
            ) from None

    def act(self, fn: Callable[[], _T]) -> _T:
        """Carry out an action on the writer thread in one transaction; publish what it
        decided."""

        def run() -> _T:
            result, outcome = self._processor.run(fn)
            self._after(outcome)
            self._board.count_action()
            return result

        return self.call(run)

    def tick(self) -> None:
        """Run the time-based policy now (forecasts, escalation), on the writer thread."""
        self.call(self._tick)

    # -- the thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as err:
            self.error = err
            logger.critical("the bridge's writer stopped", exc_info=err)
        finally:
            self._board.notify()

    def _loop(self) -> None:
        batch_max = self._settings.ingest.batch_max
        poll_s = self._settings.timers.poll_s
        stopping_at: float | None = None
        while True:
            try:
                first = self._queue.get(timeout=poll_s if stopping_at is None else 0.05)
            except queue.Empty:
                first = None
            items: list[_Item] = [] if first is None else [first]
            inbound: list[Inbound] = []
            confirmed: list[int] = []
            republish: list[Publication] = []
            calls: list[_Call] = []
            while True:
                for item in items:
                    if isinstance(item, Inbound):
                        if stopping_at is None:
                            inbound.append(item)
                    elif isinstance(item, _Published):
                        confirmed.append(item.mid)
                    elif isinstance(item, _Stop):
                        stopping_at = time.monotonic()
                    elif isinstance(item, _Call):
                        calls.append(item)
                    else:
                        republish.extend(item)
                if len(inbound) >= batch_max:
                    break
                try:
                    items = [self._queue.get_nowait()]
                except queue.Empty:
                    break
            if republish:
                self._publish(republish)
            if inbound:
                self._handle(inbound)
            for call in calls:
                self._run_call(call)
            if confirmed:
                self._confirm(confirmed)
            if stopping_at is None:
                self._maybe_tick()
            if stopping_at is not None and (
                not self._unconfirmed or time.monotonic() - stopping_at > self._stop_timeout
            ):
                if self._unconfirmed:
                    logger.warning(
                        "%d pickup messages unconfirmed at stop; they stay in the outbox",
                        len(self._unconfirmed),
                    )
                return

    def _run_call(self, call: _Call) -> None:
        if not call.future.set_running_or_notify_cancel():
            return
        try:
            result = call.fn()
        except BaseException as err:  # noqa: BLE001 - handed to the caller, who decides
            call.future.set_exception(err)
        else:
            call.future.set_result(result)

    def _maybe_tick(self) -> None:
        """Run the policy tick when ``timers.tick_s`` of bridge time have passed."""
        now = self._clock()
        if self._next_tick is not None and now < self._next_tick:
            return
        self._next_tick = now + timedelta(seconds=self._settings.timers.tick_s)
        try:
            self._tick()
        except Exception as err:
            self._processor.reload()
            if self._store.is_transient(err):
                logger.error("policy tick failed (%s); retrying at the next tick", err)
            else:
                logger.exception("policy tick failed; retrying at the next tick")

    def _tick(self) -> None:
        outcome = self._processor.tick()
        self._after(outcome)
        self._board.count_tick()

    def _after(self, outcome: BatchOutcome) -> None:
        """Publish what a committed batch, tick or action decided; wake the webhooks and
        whoever waits for a command it settled."""
        self._publish(outcome.publications)
        if outcome.webhooks and self._wake_webhooks is not None:
            self._wake_webhooks()
        if outcome.settled:
            self._board.settle(outcome.settled)

    def _handle(self, inbound: Sequence[Inbound]) -> None:
        outcome = self._commit(inbound)
        if outcome is None:
            return
        for item in inbound:
            self._outlet.ack(item)
        # The bins' acks are not kept in the store's outbox: one lost (a crash now) is
        # made good when the bin sends the messages again and they are acked as
        # duplicates.
        for topic, payload in outcome.acks:
            self._outlet.publish(topic, payload)
        self._after(outcome)
        self._board.count_batch(outcome)

    def _commit(self, inbound: Sequence[Inbound]) -> BatchOutcome | None:
        """Commit a batch, retrying while the store fails transiently.

        A batch that fails otherwise (a message the code cannot handle, an SQL error
        only it causes) is retried one message at a time, and a message that still
        fails alone is counted as ``internal`` (logged with its topic, bin and
        traceback) and acknowledged, provided the store can record that count: if it
        cannot, the store is what fails, and the message is retried like a transient
        failure rather than dropped. Returns None only when a stop interrupted the
        retries (nothing is acknowledged).
        """
        while True:
            dropped = self._board.dropped
            try:
                outcome = self._processor.process(
                    inbound, overload=(dropped - self._dropped_counted, self._dropped_topic)
                )
                self._dropped_counted = dropped
                return outcome
            except Exception as err:  # noqa: BLE001 - one poison message must not stop ingest
                self._processor.reload()
                if not self._store.is_transient(err):
                    if len(inbound) > 1:
                        return self._one_by_one(inbound)
                    rejected = self._reject_internal(inbound[0], err)
                    if rejected is not None:
                        return rejected
                logger.error(
                    "store failed (%s); retrying %d messages in %.1f s",
                    err,
                    len(inbound),
                    self._settings.ingest.retry_delay_s,
                )
                self._board.notify()
                if self._stop_requested.wait(self._settings.ingest.retry_delay_s):
                    return None

    def _reject_internal(self, item: Inbound, error: Exception) -> BatchOutcome | None:
        """Count (and so acknowledge) a lone message the bridge fails on, so that it is
        neither redelivered forever nor allowed to stop the writer; None when the count
        itself cannot be committed (the store fails, not the message)."""
        try:
            self._processor.reject_internal(item, error)
        except Exception:
            self._processor.reload()
            logger.exception(
                "could not count the failure on %s; the store fails: retrying it", item.topic
            )
            return None
        return BatchOutcome(rejected={INTERNAL_REASON: 1})

    def _one_by_one(self, inbound: Sequence[Inbound]) -> BatchOutcome | None:
        total = BatchOutcome()
        for item in inbound:
            outcome = self._commit([item])
            if outcome is None:
                return None
            total.stored += outcome.stored
            total.duplicates += outcome.duplicates
            for reason, count in outcome.rejected.items():
                total.rejected[reason] = total.rejected.get(reason, 0) + count
            total.publications.extend(outcome.publications)
            total.webhooks += outcome.webhooks
            total.settled.extend(outcome.settled)
            total.unknown_desired += outcome.unknown_desired
            total.acks.extend(outcome.acks)
            total.acked += outcome.acked
        return total

    def _publish(self, publications: Sequence[Publication]) -> None:
        for publication in publications:
            mid = self._outlet.publish(
                publication.topic, publication.payload, retain=publication.retain
            )
            self._unconfirmed[mid] = publication.id

    def _confirm(self, mids: Sequence[int]) -> None:
        ids = [self._unconfirmed.pop(mid) for mid in mids if mid in self._unconfirmed]
        if ids:
            try:
                with self._store.transaction():
                    self._store.remove_publications(ids)
            except Exception as err:
                if not self._store.is_transient(err):
                    raise
                logger.error("could not clear %d confirmed publications: %s", len(ids), err)
        self._board.count_published(len(ids))
