"""The bridge's MQTT connection: persistent session, manual acks, jittered reconnects.

The broker keeps the bridge's subscriptions and unacknowledged messages under its
fixed client id (``clean_session=False``), so messages sent while the bridge is down
arrive when it returns. Messages are acknowledged with :meth:`MqttLink.ack` only
after the writer committed them; an acknowledgement from before a reconnect is
dropped, because the broker redelivers those messages on the new connection and
their packet ids may already name other messages. Callbacks never block: a received
message is handed to ``deliver`` (the writer's queue) and nothing else.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from cloud_bridge.config.settings import BrokerSettings
from cloud_bridge.domain.inbound import SUBSCRIPTIONS, WATCHED, Inbound
from cloud_bridge.errors import SettingsError
from protocol import bin_wildcard
from protocol.backoff import Backoff
from protocol.mqtt_client import (
    ClientOptions,
    ClientSetupError,
    ConnectFailure,
    ConnectFailures,
    TlsFiles,
    new_client,
)

logger = logging.getLogger(__name__)


class MqttLink:
    """One paho client run by its own network thread (``loop_start``)."""

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        deliver: Callable[[Inbound], None],
        published: Callable[[int], None],
        rng: random.Random,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._deliver = deliver
        self._published = published
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._generation = 0
        self._backoff = Backoff(settings.backoff_min_s, settings.backoff_max_s, rng)
        self._connected_at: float | None = None
        self._stopping = False
        self.ready = threading.Event()
        """Set while connected and subscribed."""
        self.connections = 0
        """How many times the bridge has connected (a reconnect adds one)."""
        self._client = self._make_client()

    @property
    def filters(self) -> list[str]:
        """The subscription filters: every bin-to-cloud topic kind, for all bins, and
        ``config/desired``, whose retained messages the engine checks against its own."""
        prefix = self._settings.topic_prefix
        return [bin_wildcard(kind, prefix=prefix) for kind in (*SUBSCRIPTIONS, *WATCHED)]

    def _make_client(self) -> mqtt.Client:
        settings = self._settings
        files = (
            TlsFiles("broker", settings.ca_file, settings.cert_file, settings.key_file)
            if settings.address.tls
            else None
        )
        options = ClientOptions(
            client_id=settings.client_id,
            manual_ack=True,
            tls=files,
            username=settings.username,
            password=settings.password() if settings.username is not None else None,
        )
        try:
            client = new_client(options)
        except ClientSetupError as err:
            raise SettingsError("broker", [str(err)]) from err
        self._failures = ConnectFailures(client, tls=files is not None)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; the first connection is retried like any other."""
        address = self._settings.address
        self._stopping = False
        self._client.connect_async(address.host, address.port, self._settings.keepalive_s)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect (the broker keeps the session) and stop the network thread."""
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        self.ready.clear()

    @property
    def last_error(self) -> str | None:
        """Why the latest connection attempt failed (``None`` once connected)."""
        return self._failures.last_reason

    # -- used by the writer -------------------------------------------------------------

    def ack(self, item: Inbound) -> None:
        """Acknowledge a committed (or rejected) message, if it came on this connection."""
        if item.qos == 0:
            return
        with self._lock:
            if item.generation == self._generation:
                self._client.ack(item.mid, item.qos)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Publish with QoS 1; return the packet id whose acknowledgement confirms it."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        return int(info.mid)

    # -- paho callbacks (network thread: never block) -------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the connection: %s", reason_code)
            self._failures.refused(reason_code)
            return
        self._failures.connected()
        with self._lock:
            self._generation += 1
        self._connected_at = self._monotonic()
        self.connections += 1
        logger.info(
            "connected to %s (session %s)",
            self._settings.address.url,
            "resumed" if flags.session_present else "new",
        )
        client.subscribe([(topic, 1) for topic in self.filters])

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            logger.error("broker refused subscriptions: %s", refused)
            return
        logger.info("subscribed to %s", ", ".join(self.filters))
        self.ready.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self.ready.clear()
        if self._stopping:
            return
        connected_at, self._connected_at = self._connected_at, None
        if connected_at is None:  # hung up before accepting (a refused certificate)
            self._connect_failed(self._failures.closed_early())
            return
        if (
            connected_at is not None
            and self._monotonic() - connected_at >= self._settings.stable_after_s
        ):
            self._backoff.reset()
        delay = self._schedule_retry()
        logger.warning("lost the broker (%s); reconnecting in %.2f s", reason_code, delay)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._connect_failed(self._failures.connect_failed())

    def _connect_failed(self, failure: ConnectFailure) -> None:
        """Log why an attempt failed (a repeat quietly) and schedule the next one."""
        delay = self._schedule_retry()
        logger.log(
            failure.level,
            "cannot connect to the broker at %s: %s; retrying in %.2f s",
            self._settings.address.url,
            failure.reason,
            delay,
        )

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = "(topic is not UTF-8)"
        self._deliver(
            Inbound(
                topic=topic,
                payload=bytes(message.payload),
                mid=message.mid,
                qos=message.qos,
                generation=self._generation,
                retained=bool(message.retain),
            )
        )

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        self._published(mid)

    # -- backoff --------------------------------------------------------------------------

    def _schedule_retry(self) -> float:
        """Set paho's next reconnect delay from the jittered backoff; return it."""
        delay = self._backoff.next_delay()
        # paho annotates the delays as int but only does arithmetic with them.
        cast(Any, self._client).reconnect_delay_set(min_delay=delay, max_delay=delay)
        return delay
