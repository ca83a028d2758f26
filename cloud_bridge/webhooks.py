"""Webhook delivery: signed POSTs from the persistent queue, retried, then dead-lettered.

The writer queues a row per endpoint in the transaction that decided the message
(:class:`cloud_bridge.notify.Notifier`); this worker, on its own thread and its own
database connection, takes the oldest pending row of each endpoint when it is due,
POSTs the exact body with ``X-Revloop-Signature: sha256=<hex HMAC-SHA256 of the body>``
and records the outcome. A failure (connection error, timeout, any non-2xx status)
is retried after an exponential, jittered delay on the bridge's clock; after
``delivery.max_attempts`` the row is dead-lettered and the endpoint's next row goes.
Because the queue lives in the database, a restart of the bridge loses nothing:
delivery resumes where it stopped (at least once; receivers deduplicate).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import httpx

from cloud_bridge.clock import Clock
from cloud_bridge.records import Delivery
from cloud_bridge.service_settings import DeliverySettings, WebhookEndpoint
from cloud_bridge.store import DeliveryStore

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
            try:
                attempted = self.run_once()
            except self._store.transient_errors as err:
                logger.error("webhook queue unavailable (%s); retrying", err)
                attempted = 0
            except Exception:
                logger.exception("webhook worker failed; retrying")
                attempted = 0
            if attempted == 0:
                self._wake.wait(self._settings.poll_s)
                self._wake.clear()

    def run_once(self, limit: int = 50) -> int:
        """Attempt every delivery due now (the head of each endpoint's queue); return how many."""
        due = self._store.due_deliveries(self._clock(), limit)
        for delivery in due:
            if self._stopping.is_set():
                break
            self._attempt(delivery)
        return len(due)

    def _attempt(self, delivery: Delivery) -> None:
        endpoint = self._endpoints.get(delivery.endpoint)
        status: int | None = None
        if endpoint is None:
            error: str | None = f"endpoint {delivery.endpoint!r} is no longer configured"
            ok = False
            final = True
        else:
            ok, status, error = self._post(endpoint, delivery)
            final = False
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

    def _post(
        self, endpoint: WebhookEndpoint, delivery: Delivery
    ) -> tuple[bool, int | None, str | None]:
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
