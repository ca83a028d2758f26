"""Fleet messages out: one call queues a message for MQTT and for every webhook that wants it.

Both queues are written in the caller's transaction (the batch, tick or action that
decided the message), so a message that was decided is never lost between the
database and its receivers. After the commit the bridge publishes the MQTT outbox and
wakes the webhook worker. Generic over what it carries: pickups and tickets (``kind``
names the message type, ``key`` its id). Messages to bins (commands, desired
configurations) take the MQTT outbox only (:meth:`Notifier.publish`).
"""

from __future__ import annotations

import logging

from cloud_bridge.clock import Clock
from cloud_bridge.config.webhooks import WebhookEndpoint
from cloud_bridge.domain.records import Publication
from cloud_bridge.store.protocols import Store

logger = logging.getLogger(__name__)


class Notifier:
    """Queues fleet messages in the store; hands the MQTT ones to the bridge after commit."""

    def __init__(self, store: Store, clock: Clock, endpoints: list[WebhookEndpoint]) -> None:
        self._store = store
        self._clock = clock
        self._endpoints = endpoints
        self._queued: list[Publication] = []
        self._webhooks = 0

    def send(self, kind: str, region: str, topic: str, key: str, payload: bytes) -> None:
        """Queue ``payload`` for MQTT on ``topic`` and for each endpoint wanting ``kind``."""
        publication_id = self._store.queue_publication(topic, payload)
        self._queued.append(Publication(id=publication_id, topic=topic, payload=payload))
        now = self._clock()
        for endpoint in self._endpoints:
            if endpoint.wants(kind, region):
                self._store.queue_delivery(endpoint.name, kind, key, payload, now)
                self._webhooks += 1

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue ``payload`` for MQTT only (a message to a bin), retained if ``retain``."""
        publication_id = self._store.queue_publication(topic, payload, retain=retain)
        self._queued.append(
            Publication(id=publication_id, topic=topic, payload=payload, retain=retain)
        )

    def take(self) -> tuple[list[Publication], int]:
        """MQTT publications and the number of webhook deliveries queued since the last call."""
        queued, self._queued = self._queued, []
        webhooks, self._webhooks = self._webhooks, 0
        return queued, webhooks

    def discard(self) -> None:
        """Forget what was queued (the transaction was rolled back)."""
        self._queued.clear()
        self._webhooks = 0
