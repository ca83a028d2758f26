"""The bridge's engine as one embeddable object: MQTT in, the store through one writer,
pickups, tickets and messages to bins out.

``Bridge(settings, store=..., clock=...)`` with :meth:`Bridge.start` and
:meth:`Bridge.stop` is the engine that ``bin-bridge run`` and the simulator run,
through the start-up wiring (:mod:`cloud_bridge.runtime`), which builds the webhook
worker and the API beside it; the engine builds neither. The paho network thread
only queues what arrives; the single writer (:mod:`cloud_bridge.engine.writer`) takes
the queue in batches, commits each in one transaction, then acknowledges its
messages and publishes the pickups and tickets it decided. Tests wait on
:meth:`Bridge.wait_for` instead of sleeping.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from cloud_bridge.clock import Clock, system_clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.domain.records import CommandRecord, DesiredConfig
from cloud_bridge.engine.processor import Processor
from cloud_bridge.engine.stats import BridgeStats, StatsBoard
from cloud_bridge.engine.writer import Writer
from cloud_bridge.mqtt.link import MqttLink
from cloud_bridge.services.facility import FacilityService
from cloud_bridge.services.pickups import PickupService
from cloud_bridge.store import Store, open_store

_T = TypeVar("_T")

logger = logging.getLogger(__name__)


class Bridge:
    """The running cloud bridge's engine: broker link, processor and single writer.

    ``store`` defaults to the SQLite file of the settings (opened here, closed by
    :meth:`stop`); ``clock`` is the bridge's "now" (virtual in the simulator); ``rng``
    draws reconnect jitter; ``monotonic`` times log rate limits and how long a
    connection lasted; ``wake_webhooks`` is called when a commit queued webhook
    deliveries or a dead one was retried (the wiring passes its delivery worker's
    ``wake``); ``on_receive`` sees each message as it arrives, on the broker's thread,
    before it is queued (a :class:`~cloud_bridge.clock.BinTimeClock` takes its time
    there). A Bridge starts once.
    """

    def __init__(
        self,
        settings: BridgeSettings,
        *,
        store: Store | None = None,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wake_webhooks: Callable[[], None] | None = None,
        on_receive: Callable[[Inbound], None] | None = None,
    ) -> None:
        self.settings = settings
        self._owns_store = store is None
        self.store: Store = store or open_store(settings.store)
        self._clock = clock
        self._wake_webhooks = wake_webhooks
        self._board = StatsBoard()
        self._processor = Processor(settings, self.store, clock, monotonic=monotonic)
        self._link = MqttLink(
            settings.broker,
            deliver=self._receiver(on_receive),
            published=lambda mid: self._writer.published(mid),
            rng=rng or random.Random(),
            monotonic=monotonic,
        )
        self._writer = Writer(
            settings,
            self.store,
            self._processor,
            self._link,
            clock,
            self._board,
            wake_webhooks=wake_webhooks,
        )
        self._started = False
        self._connected = False
        self._stopped = False

    def _receiver(self, on_receive: Callable[[Inbound], None] | None) -> Callable[[Inbound], None]:
        """What the link calls with each message (its thread): ``on_receive`` first (a
        clock that follows the bins), then the writer's queue."""
        if on_receive is None:
            return lambda item: self._writer.receive(item)

        def deliver(item: Inbound) -> None:
            on_receive(item)
            self._writer.receive(item)

        return deliver

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer, connect, and republish what the outbox still holds."""
        self.start_writer()
        self.connect()

    def start_writer(self) -> None:
        """Start the writer (first republishing what the outbox holds), not yet connected.

        The wiring starts the API between this and :meth:`connect`, so actions work
        before bins' messages flow and a taken API port fails before the broker is
        ever contacted.
        """
        if self._started or self._stopped:
            raise RuntimeError("a Bridge starts once; make a new one to run again")
        self._started = True
        pending = self.store.pending_publications()
        if pending:
            logger.info("republishing %d unconfirmed pickup messages", len(pending))
        self._writer.start(pending)

    def connect(self) -> None:
        """Connect to the broker in the background (see :meth:`wait_ready`)."""
        self._connected = True
        self._link.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit and acknowledge what was queued, wait for publications, then disconnect.

        Messages still arriving after the stop was requested are not acknowledged: the
        broker keeps them in the session for the next start.
        """
        if not self._started or self._stopped:
            return
        self._writer.stop(timeout)
        if self._connected:
            self._link.stop()
        self._stopped = True
        if self._owns_store:
            self.store.close()

    @property
    def clock(self) -> Clock:
        """The bridge's notion of now."""
        return self._clock

    @property
    def error(self) -> BaseException | None:
        """Set if the writer thread died; the bridge then no longer stores anything."""
        return self._writer.error

    def __enter__(self) -> Bridge:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observing ----------------------------------------------------------------------

    @property
    def stats(self) -> BridgeStats:
        """A snapshot of the counters."""
        return self._snapshot()

    def _snapshot(self) -> BridgeStats:
        return self._board.snapshot(
            unconfirmed=self._writer.unconfirmed, connections=self._link.connections
        )

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the bridge is connected and subscribed."""
        return self._link.ready.wait(timeout)

    def wait_for(self, predicate: Callable[[BridgeStats], bool], timeout: float) -> bool:
        """Wait until ``predicate(stats)`` holds after a batch; False on timeout."""
        return self._board.wait_for(lambda: predicate(self._snapshot()), timeout)

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
        return self._writer.call(fn, timeout)

    def pickups(self, action: Callable[[PickupService], _T]) -> _T:
        """Carry out a scheduler's action on the pickups; publish what it changed."""
        return self._writer.act(lambda: action(self._processor.pickups))

    def facility(self, action: Callable[[FacilityService], _T]) -> _T:
        """Record what a receiving facility reports (an intake, a disposition, a stock
        movement); publish the tickets it opened or resolved."""
        return self._writer.act(lambda: action(self._processor.facility))

    def retry_delivery(self, delivery_id: int) -> bool:
        """Make a dead-lettered webhook delivery pending again; False if it is not dead."""

        def run() -> bool:
            with self.store.transaction():
                done = self.store.retry_delivery(delivery_id, self._clock())
            if done and self._wake_webhooks is not None:
                self._wake_webhooks()
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
        return self._writer.act(
            lambda: self._processor.send_command(bin_id, name, args, ttl_s, actor)
        )

    def push_config(
        self,
        config: dict[str, Any],
        *,
        bin_id: str | None = None,
        region: str | None = None,
        actor: str,
    ) -> list[DesiredConfig]:
        """Push a configuration overlay to one bin or every bin of a region (retained)."""
        return self._writer.act(
            lambda: self._processor.push_config(config, bin_id=bin_id, region=region, actor=actor)
        )

    def wait_command(self, command_id: str, timeout: float) -> bool:
        """Wait until the command was answered or timed out (or ``timeout``); True if so.

        Only settlements since the bridge started count; read the command from the
        store first, and wait only while it is pending there.
        """
        return self._board.wait_for(lambda: self._board.is_settled(command_id), timeout)

    def watch_command(self, command_id: str, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify`` (on the writer thread: it must only hand over) once the command
        was answered or timed out; return a function that stops watching.

        Only settlements since the bridge started count: read the command from the store
        after watching, and wait only while it is pending there.
        """
        return self._board.watch(command_id, notify)

    def tick(self) -> None:
        """Run the time-based policy now (forecasts, escalation), on the writer thread."""
        self._writer.tick()
