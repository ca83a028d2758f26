"""Start-up wiring (the composition root): the store, the engine, the webhook worker and
the API, built side by side and handed to each other.

No core object builds its own adapters: the engine
(:class:`~cloud_bridge.engine.bridge.Bridge`) is given its store and a way to wake the
webhook worker; the worker is given its own connection to the database file; the API
server is given the engine as its :class:`~cloud_bridge.api.context.Actions`.
:class:`BridgeRuntime` is what ``bin-bridge run``, the simulator's demo and the
benchmarks start. It starts the parts in order (the writer, then the API, then the
broker link, then webhook delivery) and stops them the other way round.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

from cloud_bridge.api.server import ApiServer, serve_api
from cloud_bridge.clock import BinTimeClock, Clock, system_clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.engine.stats import BridgeStats
from cloud_bridge.errors import ApiError
from cloud_bridge.store import Store, open_store
from cloud_bridge.web.app import dashboard_mounter
from cloud_bridge.webhooks.worker import WebhookWorker


def webhook_worker(
    settings: BridgeSettings,
    clock: Clock,
    *,
    store: Store | None = None,
    rng: random.Random | None = None,
) -> WebhookWorker:
    """The delivery worker of the configured endpoints, on its own database connection
    (it writes attempts from its own thread); ``store`` overrides that connection and
    then stays the caller's to close."""
    owned = store is None
    if store is None:
        if str(settings.store.path) == ":memory:":
            raise ValueError("webhooks need a database file (store.path), not :memory:")
        store = open_store(settings.store)
    worker_store = store
    return WebhookWorker(
        list(settings.webhooks),
        settings.delivery,
        worker_store,
        clock,
        rng=random.Random(rng.random()) if rng is not None else None,
        on_close=worker_store.close if owned else None,
    )


class BridgeRuntime:
    """The whole bridge of ``bin-bridge run``: engine, webhook delivery and API.

    The arguments are the engine's (see :class:`~cloud_bridge.engine.bridge.Bridge`);
    ``store`` defaults to the settings' database file (opened here, closed by
    :meth:`stop`), ``webhook_store`` to a second connection to it. The webhook worker
    exists when endpoints are configured, the API server when ``api.port`` is set.
    A runtime starts once.
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
        on_receive: Callable[[Inbound], None] | None = None,
    ) -> None:
        self.settings = settings
        self._owns_store = store is None
        self.store: Store = store or open_store(settings.store)
        try:
            self.webhooks: WebhookWorker | None = None
            """The delivery worker, when webhook endpoints are configured."""
            if settings.webhooks:
                self.webhooks = webhook_worker(settings, clock, store=webhook_store, rng=rng)
            self.bridge = Bridge(
                settings,
                store=self.store,
                clock=clock,
                rng=rng,
                monotonic=monotonic,
                wake_webhooks=None if self.webhooks is None else self.webhooks.wake,
                on_receive=on_receive,
            )
            """The engine: broker link, processor and single writer."""
            self.api: ApiServer | None = None
            """The API server, when ``api.port`` is set."""
            if settings.api.port is not None:
                self.api = serve_api(
                    settings,
                    self.bridge,
                    clock,
                    extend=dashboard_mounter(settings, clock, os.environ, self.bridge),
                )
        except BaseException:
            self._close()
            raise
        self._started = False
        self._stopped = False

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer, then the API, then connect, then deliver webhooks.

        The API is up before bins' messages flow; a taken API port (:class:`ApiError`)
        stops what was started and closes the store before the broker is contacted.
        """
        if self._started:
            raise RuntimeError("a BridgeRuntime starts once; make a new one to run again")
        self._started = True
        self.bridge.start_writer()
        if self.api is not None:
            try:
                self.api.start()
            except ApiError:
                self.bridge.stop()
                self._close()
                self._stopped = True
                raise
        self.bridge.connect()
        if self.webhooks is not None:
            self.webhooks.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the API, drain and stop the engine, finish webhook attempts, close the store."""
        if not self._started or self._stopped:
            return
        self._stopped = True
        if self.api is not None:
            self.api.stop()
        self.bridge.stop(timeout)
        if self.webhooks is not None:
            self.webhooks.stop(timeout)
        if self._owns_store:
            self.store.close()

    def _close(self) -> None:
        """Release what construction opened (nothing was started)."""
        webhooks: WebhookWorker | None = getattr(self, "webhooks", None)
        if webhooks is not None:
            webhooks.stop(0.0)
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> BridgeRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the engine's state, for callers that hold only the runtime ------------------------

    @property
    def error(self) -> BaseException | None:
        """Set if the engine's writer died; the bridge then no longer stores anything."""
        return self.bridge.error

    @property
    def stats(self) -> BridgeStats:
        """A snapshot of the engine's counters."""
        return self.bridge.stats

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the engine is connected and subscribed."""
        return self.bridge.wait_ready(timeout)

    def wait_for(self, predicate: Callable[[BridgeStats], bool], timeout: float) -> bool:
        """Wait until ``predicate(stats)`` holds after a batch; False on timeout."""
        return self.bridge.wait_for(predicate, timeout)

    def wait_processed(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` messages were committed (stored, duplicate or rejected)."""
        return self.bridge.wait_processed(count, timeout)


def following_bins(settings: BridgeSettings, **kwargs: Any) -> BridgeRuntime:
    """The runtime of ``bin-bridge run --clock-from-bins``: its clock a
    :class:`~cloud_bridge.clock.BinTimeClock` that takes each message's synced ``ts`` as
    it arrives (``kwargs`` as for :class:`BridgeRuntime`, but no ``clock``)."""
    clock = BinTimeClock()
    return BridgeRuntime(
        settings, clock=clock, on_receive=lambda item: clock.observe_payload(item.payload), **kwargs
    )
