"""Webhook delivery: signed POSTs from the persistent queue, retried, then dead-lettered.

The writer queues a row per endpoint in the transaction that decided the message
(:class:`cloud_bridge.services.notifier.Notifier`); this worker, on its own thread and its own
database connection, takes the oldest pending row of each endpoint when it is due,
POSTs the exact body with ``X-Revloop-Signature: sha256=<hex HMAC-SHA256 of the body>``
and records the outcome. A failure (connection error, timeout, any non-2xx status)
is retried after an exponential, jittered delay on the bridge's clock; after
``delivery.max_attempts`` the row is dead-lettered and the endpoint's next row goes.
Because the queue lives in the database, a restart of the bridge loses nothing:
delivery resumes where it stopped (at least once; receivers deduplicate). Each
endpoint has its own lane: the POSTs run on a small thread pool, one at a time per
endpoint, so a slow or hanging receiver holds back only its own rows; only the worker
thread touches the database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass
from datetime import timedelta

import httpx

from cloud_bridge.clock import Clock
from cloud_bridge.config.webhooks import DeliverySettings, WebhookEndpoint
from cloud_bridge.domain.records import Delivery
from cloud_bridge.store.protocols import DeliveryStore

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Revloop-Signature"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def retry_delay(failures: int, settings: DeliverySettings, rng: random.Random) -> float:
    """Seconds before the next attempt after ``failures`` failed ones (doubling, jittered).

    Each delay is drawn from half to all of the step, so endpoints that failed
    together do not retry in lockstep.
    """
    step = min(settings.backoff_max_s, settings.backoff_min_s * 2.0 ** min(failures - 1, 64))
    return step * rng.uniform(0.5, 1.0)


PostOutcome = tuple[bool, int | None, str | None]
"""Whether a POST delivered, the HTTP status if one came, and the error if it failed."""


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """What the worker did since it started."""

    attempts: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0


class WebhookWorker:
    """Delivers the queue's due rows, on its own thread from :meth:`start` to :meth:`stop`."""

    def __init__(
        self,
        endpoints: list[WebhookEndpoint],
        settings: DeliverySettings,
        store: DeliveryStore,
        clock: Clock,
        *,
        rng: random.Random | None = None,
        client: httpx.Client | None = None,
        environ: Mapping[str, str] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self._settings = settings
        self._store = store
        self._clock = clock
        self._rng = rng or random.Random()
        self._client = client or httpx.Client(
            timeout=settings.timeout_s, headers={"User-Agent": "revloop-bridge"}
        )
        self._owns_client = client is None
        self._environ = environ
        self._on_close = on_close
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()
        self._stats = WorkerStats()
        self._warned_secret: set[str] = set()
        self._posts = ThreadPoolExecutor(
            max_workers=max(1, len(self._endpoints)), thread_name_prefix="bridge-webhook-post"
        )
        self._in_flight: dict[str, tuple[Delivery, Future[PostOutcome]]] = {}
        """The POST under way per endpoint (touched by the worker thread only)."""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Start delivering (what is pending from before a restart goes first)."""
        self._thread = threading.Thread(target=self._run, name="bridge-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the attempt in progress and stop; pending rows stay for the next start."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + self._settings.timeout_s)
            self._thread = None
        self._posts.shutdown(wait=True)
        if self._owns_client:
            self._client.close()
        if self._on_close is not None:
            self._on_close()

    def wake(self) -> None:
        """New rows were committed: look at the queue now."""
        self._wake.set()

    @property
    def stats(self) -> WorkerStats:
        """A snapshot of the counters."""
        with self._changed:
            return self._stats

    def wait_for(self, predicate: Callable[[WorkerStats], bool], timeout: float) -> bool:
        """Wait until ``predicate(stats)`` holds; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self._stats), timeout)

    # -- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before looking: a POST finishing from here on wakes the wait
            try:
                busy = self._step(limit=50)
            except Exception as err:
                if self._store.is_transient(err):
                    logger.error("webhook queue unavailable (%s); retrying", err)
                else:
                    logger.exception("webhook worker failed; retrying")
                busy = False
            if not busy:
                # New rows and finished POSTs set the event: their turn comes at once.
                self._wake.wait(self._settings.poll_s)
        try:
            self._finish_in_flight()
        except Exception:  # the rows stay pending and go again after a restart
            logger.exception("could not record the webhook attempts under way at stop")

    def run_once(self, limit: int = 50) -> int:
        """Attempt every delivery due now (the head of each endpoint's queue, each endpoint
        in its own lane), wait for the POSTs and record them; return how many started."""
        self._record_finished()
        started = self._start_due(limit)
        self._finish_in_flight()
        return started

    def _step(self, limit: int) -> bool:
        """Record the POSTs that finished, start the due ones of idle endpoints; whether
        anything happened (then the loop looks again at once)."""
        recorded = self._record_finished()
        started = self._start_due(limit)
        return bool(recorded or started)

    def _start_due(self, limit: int) -> int:
        due = self._store.due_deliveries(self._clock(), limit)
        started = 0
        for delivery in due:
            if self._stopping.is_set():
                break
            if delivery.endpoint in self._in_flight:
                continue  # its head is being sent: the lane is busy
            endpoint = self._endpoints.get(delivery.endpoint)
            if endpoint is None:
                gone = f"endpoint {delivery.endpoint!r} is no longer configured"
                self._record(delivery, (False, None, gone), final=True)
                started += 1
                continue
            future = self._posts.submit(self._post, endpoint, delivery)
            self._in_flight[delivery.endpoint] = (delivery, future)
            future.add_done_callback(lambda _: self._wake.set())
            started += 1
        return started

    def _record_finished(self) -> int:
        finished = [name for name, (_, f) in self._in_flight.items() if f.done()]
        for name in finished:
            delivery, future = self._in_flight.pop(name)
            self._record(delivery, _outcome(future), final=False)
        return len(finished)

    def _finish_in_flight(self) -> None:
        """Wait for the POSTs under way (each bounded by the client's timeout), record them."""
        if self._in_flight:
            wait_all([future for _, future in self._in_flight.values()])
        self._record_finished()

    def _record(self, delivery: Delivery, outcome: PostOutcome, final: bool) -> None:
        """Store an attempt's outcome: delivered, pending with its backoff, or dead."""
        ok, status, error = outcome
        now = self._clock()
        failures = delivery.attempts + 1
        if ok:
            state = "delivered"
            next_at = now
        elif final or failures >= self._settings.max_attempts:
            state = "dead"
            next_at = now
            logger.error(
                "webhook %s of %s %s to %s dead-lettered after %d attempts: %s",
                delivery.id,
                delivery.kind,
                delivery.key,
                delivery.endpoint,
                failures,
                error,
            )
        else:
            state = "pending"
            next_at = now + timedelta(seconds=retry_delay(failures, self._settings, self._rng))
            logger.warning(
                "webhook %s to %s failed (attempt %d: %s); next attempt at %s",
                delivery.id,
                delivery.endpoint,
                failures,
                error,
                next_at.isoformat(),
            )
        with self._store.transaction():
            self._store.record_attempt(
                delivery.id,
                at=now,
                state=state,
                status=status,
                error=error,
                next_attempt_at=next_at,
            )
        with self._changed:
            s = self._stats
            self._stats = WorkerStats(
                attempts=s.attempts + 1,
                delivered=s.delivered + (state == "delivered"),
                failed=s.failed + (state != "delivered"),
                dead=s.dead + (state == "dead"),
            )
            self._changed.notify_all()

    def _post(self, endpoint: WebhookEndpoint, delivery: Delivery) -> PostOutcome:
        """POST one delivery (on a pool thread: no database here)."""
        secret = endpoint.secret(self._environ)
        if secret is None:
            if endpoint.name not in self._warned_secret:
                self._warned_secret.add(endpoint.name)
                logger.error(
                    "webhook %s: %s is not set; deliveries wait", endpoint.name, endpoint.secret_env
                )
            return False, None, f"secret {endpoint.secret_env} is not set"
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, delivery.body),
            "X-Revloop-Delivery": str(delivery.id),
            "X-Revloop-Kind": delivery.kind,
        }
        try:
            response = self._client.post(endpoint.url, content=delivery.body, headers=headers)
        except httpx.HTTPError as err:
            return False, None, f"{type(err).__name__}: {err}"
        if 200 <= response.status_code < 300:
            return True, response.status_code, None
        return False, response.status_code, f"HTTP {response.status_code}"


def _outcome(future: Future[PostOutcome]) -> PostOutcome:
    """A finished POST's outcome; a bug in the POST counts as a failed attempt."""
    error = future.exception()
    if error is not None:
        return False, None, f"{type(error).__name__}: {error}"
    return future.result()
