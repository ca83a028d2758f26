"""The bridge as one embeddable object: MQTT in, SQLite through one writer, pickups,
tickets and messages to bins out.

``Bridge(settings, store=..., clock=...)`` with :meth:`Bridge.start` and
:meth:`Bridge.stop` is what ``bin-bridge run`` and the fleet simulator run. The paho
network thread only queues what arrives; a single writer thread takes the queue in
batches, commits each batch in one transaction, then acknowledges its messages and
publishes the pickups and tickets it decided. Tests wait on :meth:`Bridge.wait_for`
instead of sleeping.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from cloud_bridge.clock import Clock, system_clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.domain.records import CommandRecord, DesiredConfig, Publication
from cloud_bridge.engine.processor import INTERNAL_REASON, BatchOutcome, Processor
from cloud_bridge.errors import ApiError, Unavailable
from cloud_bridge.mqtt.link import MqttLink
from cloud_bridge.services.pickups import PickupService
from cloud_bridge.store import Store, open_store
from cloud_bridge.webhooks.worker import WebhookWorker

_T = TypeVar("_T")

SETTLED_MEMORY = 10_000
"""How many recently settled command ids :meth:`Bridge.wait_command` remembers."""

logger = logging.getLogger(__name__)


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

    @property
    def processed(self) -> int:
        """Messages committed one way or another: stored, duplicate or rejected."""
        return self.stored + self.duplicates + sum(self.rejected.values())


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


class Bridge:
    """The running cloud bridge.

    ``store`` defaults to the SQLite file of the settings (opened here, closed by
    :meth:`stop`); ``clock`` is the bridge's "now" (virtual in the simulator); ``rng``
    draws reconnect jitter; ``monotonic`` times log rate limits and how long a
    connection lasted. A Bridge starts once.
    """

    def __init__(
        self,
        settings: BridgeSettings,
        *,
        store: Store | None = None,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        webhook_store: Store | None = None,
    ) -> None:
        self.settings = settings
        self._owns_store = store is None
        self.store: Store = store or open_store(settings.store)
        self._clock = clock
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._processor = Processor(settings, self.store, clock, monotonic=monotonic)
        self._link = MqttLink(
            settings.broker,
            deliver=self._receive,
            published=lambda mid: self._queue.put(_Published(mid)),
            rng=rng or random.Random(),
            monotonic=monotonic,
        )
        self._changed = threading.Condition()
        self._stats = BridgeStats()
        self._received = 0
        self._dropped = 0
        self._dropped_counted = 0
        self._dropped_topic = ""
        self._unconfirmed: dict[int, int] = {}
        self._stop_requested = threading.Event()
        self._writer: threading.Thread | None = None
        self._stopped = False
        self._stop_timeout = 10.0
        self._next_tick: datetime | None = None
        self._ticks = 0
        self._actions = 0
        self._settled: OrderedDict[str, None] = OrderedDict()
        self.error: BaseException | None = None
        """Set if the writer thread died; the bridge then no longer stores anything."""
        self.webhooks: WebhookWorker | None = None
        """The delivery worker, when webhook endpoints are configured."""
        if settings.webhooks:
            self.webhooks = self._make_worker(webhook_store, rng)
        self.api: Any = None
        """The API server (:class:`cloud_bridge.api.server.ApiServer`) when ``api.port`` is set."""
        if settings.api.port is not None:
            from cloud_bridge.api.server import serve_bridge

            self.api = serve_bridge(self)

    def _make_worker(self, store: Store | None, rng: random.Random | None) -> WebhookWorker:
        """The worker gets its own connection to the database file (it writes attempts)."""
        owned = store is None
        if store is None:
            if str(self.settings.store.path) == ":memory:":
                raise ValueError("webhooks need a database file (store.path), not :memory:")
            store = open_store(self.settings.store)
        worker_store = store
        return WebhookWorker(
            list(self.settings.webhooks),
            self.settings.delivery,
            worker_store,
            self._clock,
            rng=random.Random(rng.random()) if rng is not None else None,
            on_close=worker_store.close if owned else None,
        )

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer, connect, and republish what the outbox still holds."""
        if self._writer is not None or self._stopped:
            raise RuntimeError("a Bridge starts once; make a new one to run again")
        pending = self.store.pending_publications()
        if pending:
            logger.info("republishing %d unconfirmed pickup messages", len(pending))
            self._queue.put(pending)
        self._stop_requested.clear()
        self._writer = threading.Thread(target=self._run, name="bridge-writer", daemon=True)
        self._writer.start()
        if self.api is not None:
            try:
                self.api.start()
            except ApiError:
                self._stop_requested.set()
                self._queue.put(_Stop())
                self._writer.join(self._stop_timeout + 5.0)
                self._writer = None
                self._stopped = True
                if self._owns_store:
                    self.store.close()
                raise
        self._link.start()
        if self.webhooks is not None:
            self.webhooks.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit and acknowledge what was queued, wait for publications, then disconnect.

        Messages still arriving after the stop was requested are not acknowledged: the
        broker keeps them in the session for the next start.
        """
        writer = self._writer
        if writer is None:
            return
        if self.api is not None:
            self.api.stop()
        self._stop_timeout = timeout
        self._stop_requested.set()
        self._queue.put(_Stop())
        writer.join(timeout + 5.0)
        if writer.is_alive():
            logger.error("the writer did not finish within %.1f s", timeout + 5.0)
        self._link.stop()
        if self.webhooks is not None:
            self.webhooks.stop(timeout)
        self._writer = None
        self._stopped = True
        if self._owns_store:
            self.store.close()

    @property
    def clock(self) -> Clock:
        """The bridge's notion of now."""
        return self._clock

    def __enter__(self) -> Bridge:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observing ----------------------------------------------------------------------

    @property
    def stats(self) -> BridgeStats:
        """A snapshot of the counters."""
        with self._changed:
            return self._snapshot()

    def _snapshot(self) -> BridgeStats:
        return BridgeStats(
            received=self._received,
            stored=self._stats.stored,
            duplicates=self._stats.duplicates,
            rejected=dict(self._stats.rejected),
            batches=self._stats.batches,
            published=self._stats.published,
            unconfirmed=len(self._unconfirmed),
            connections=self._link.connections,
            dropped=self._dropped,
            ticks=self._ticks,
            actions=self._actions,
        )

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the bridge is connected and subscribed."""
        return self._link.ready.wait(timeout)

    def wait_for(self, predicate: Callable[[BridgeStats], bool], timeout: float) -> bool:
        """Wait until ``predicate(stats)`` holds after a batch; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self._snapshot()), timeout)

    def wait_processed(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` messages were committed (stored, duplicate or rejected)."""
        return self.wait_for(lambda stats: stats.processed >= count, timeout)

    def wait_published(self, timeout: float) -> bool:
        """Wait until the broker confirmed every message published so far."""
        return self.wait_for(lambda stats: stats.unconfirmed == 0, timeout)

    # -- work from other threads (the API) ------------------------------------------------

    def call(self, fn: Callable[[], _T], timeout: float | None = None) -> _T:
        """Run ``fn`` on the writer thread, between batches; return its result or raise its error.

        The writer owns the in-memory fleet and pickups and the database connection,
        so this is how the API changes them without locks.
        """
        if self._writer is None or not self._writer.is_alive() or self._stop_requested.is_set():
            raise Unavailable("the bridge is not running")
        future: Future[_T] = Future()
        self._queue.put(_Call(fn, future))
        wait = self.settings.api.action_timeout_s if timeout is None else timeout
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

    def pickups(self, action: Callable[[PickupService], _T]) -> _T:
        """Carry out a scheduler's action on the pickups; publish what it changed."""
        return self._act(lambda: action(self._processor.pickups))

    def retry_delivery(self, delivery_id: int) -> bool:
        """Make a dead-lettered webhook delivery pending again; False if it is not dead."""

        def run() -> bool:
            with self.store.transaction():
                done = self.store.retry_delivery(delivery_id, self._clock())
            if done and self.webhooks is not None:
                self.webhooks.wake()
            return done

        return self.call(run)

    def send_command(
        self,
        bin_id: str,
        name: str,
        args: dict[str, Any],
        ttl_s: float | None,
        actor: str,
    ) -> CommandRecord:
        """Send a technician's command to a bin (stored and queued, then published)."""
        return self._act(lambda: self._processor.send_command(bin_id, name, args, ttl_s, actor))

    def push_config(
        self,
        config: dict[str, Any],
        *,
        bin_id: str | None = None,
        region: str | None = None,
        actor: str,
    ) -> list[DesiredConfig]:
        """Push a configuration overlay to one bin or every bin of a region (retained)."""
        return self._act(
            lambda: self._processor.push_config(config, bin_id=bin_id, region=region, actor=actor)
        )

    def wait_command(self, command_id: str, timeout: float) -> bool:
        """Wait until the command was answered or timed out (or ``timeout``); True if so.

        Only settlements since the bridge started count; read the command from the
        store first, and wait only while it is pending there.
        """
        with self._changed:
            return self._changed.wait_for(lambda: command_id in self._settled, timeout)

    def _act(self, fn: Callable[[], _T]) -> _T:
        def run() -> _T:
            result, outcome = self._processor.run(fn)
            self._after(outcome)
            with self._changed:
                self._actions += 1
                self._changed.notify_all()
            return result

        return self.call(run)

    def tick(self) -> None:
        """Run the time-based policy now (forecasts, escalation), on the writer thread."""
        self.call(self._tick)

    # -- the writer ---------------------------------------------------------------------

    def _receive(self, item: Inbound) -> None:
        """Queue a message (paho thread): never blocks; drops QoS 0 when the queue is full."""
        self._received += 1
        if item.qos == 0 and self._queue.qsize() >= self.settings.ingest.queue_max:
            self._dropped += 1
            self._dropped_topic = item.topic
            if self._dropped == 1 or self._dropped % 10_000 == 0:
                logger.warning("ingest queue full: %d QoS 0 messages dropped", self._dropped)
            with self._changed:
                self._changed.notify_all()
            return
        self._queue.put(item)

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as err:
            self.error = err
            logger.critical("the bridge's writer stopped", exc_info=err)
        finally:
            with self._changed:
                self._changed.notify_all()

    def _loop(self) -> None:
        batch_max = self.settings.ingest.batch_max
        poll_s = self.settings.timers.poll_s
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
        self._next_tick = now + timedelta(seconds=self.settings.timers.tick_s)
        try:
            self._tick()
        except Exception as err:
            self._processor.reload()
            if self.store.is_transient(err):
                logger.error("policy tick failed (%s); retrying at the next tick", err)
            else:
                logger.exception("policy tick failed; retrying at the next tick")

    def _tick(self) -> None:
        outcome = self._processor.tick()
        self._after(outcome)
        with self._changed:
            self._ticks += 1
            self._changed.notify_all()

    def _after(self, outcome: BatchOutcome) -> None:
        """Publish what a committed batch, tick or action decided; wake the webhooks and
        whoever waits for a command it settled."""
        self._publish(outcome.publications)
        if outcome.webhooks and self.webhooks is not None:
            self.webhooks.wake()
        if outcome.settled:
            with self._changed:
                for command_id in outcome.settled:
                    self._settled[command_id] = None
                    self._settled.move_to_end(command_id)
                while len(self._settled) > SETTLED_MEMORY:
                    self._settled.popitem(last=False)
                self._changed.notify_all()

    def _handle(self, inbound: Sequence[Inbound]) -> None:
        outcome = self._commit(inbound)
        if outcome is None:
            return
        for item in inbound:
            self._link.ack(item)
        self._after(outcome)
        with self._changed:
            stats = self._stats
            rejected = dict(stats.rejected)
            for reason, count in outcome.rejected.items():
                rejected[reason] = rejected.get(reason, 0) + count
            self._stats = BridgeStats(
                stored=stats.stored + outcome.stored,
                duplicates=stats.duplicates + outcome.duplicates,
                rejected=rejected,
                batches=stats.batches + 1,
                published=stats.published,
            )
            self._changed.notify_all()

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
            dropped = self._dropped
            try:
                outcome = self._processor.process(
                    inbound, overload=(dropped - self._dropped_counted, self._dropped_topic)
                )
                self._dropped_counted = dropped
                return outcome
            except Exception as err:  # noqa: BLE001 - one poison message must not stop ingest
                self._processor.reload()
                if not self.store.is_transient(err):
                    if len(inbound) > 1:
                        return self._one_by_one(inbound)
                    rejected = self._reject_internal(inbound[0], err)
                    if rejected is not None:
                        return rejected
                logger.error(
                    "store failed (%s); retrying %d messages in %.1f s",
                    err,
                    len(inbound),
                    self.settings.ingest.retry_delay_s,
                )
                with self._changed:
                    self._changed.notify_all()
                if self._stop_requested.wait(self.settings.ingest.retry_delay_s):
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
        return total

    def _publish(self, publications: Sequence[Publication]) -> None:
        for publication in publications:
            mid = self._link.publish(
                publication.topic, publication.payload, retain=publication.retain
            )
            self._unconfirmed[mid] = publication.id

    def _confirm(self, mids: Sequence[int]) -> None:
        ids = [self._unconfirmed.pop(mid) for mid in mids if mid in self._unconfirmed]
        if ids:
            try:
                with self.store.transaction():
                    self.store.remove_publications(ids)
            except Exception as err:
                if not self.store.is_transient(err):
                    raise
                logger.error("could not clear %d confirmed publications: %s", len(ids), err)
        with self._changed:
            stats = self._stats
            self._stats = BridgeStats(
                stored=stats.stored,
                duplicates=stats.duplicates,
                rejected=stats.rejected,
                batches=stats.batches,
                published=stats.published + len(ids),
            )
            self._changed.notify_all()
