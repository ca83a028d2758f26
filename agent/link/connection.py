"""The bin's MQTT link: connection, birth and Will, and publishing from the outbox.

paho-mqtt 2.x with VERSION2 callbacks runs the network loop in its own thread
(``connect_async`` + ``loop_start``, so the first connection is retried too). Every
connection attempt carries a fresh ``bd_seq`` in its Will, and a successful one
publishes the matching retained birth. Reconnects back off exponentially with jitter;
the backoff resets only after a connection has stayed up for a while.

A publisher thread hands messages to paho strictly from the outbox, in ``seq`` order,
with a bounded number in flight. Its PUBACK marks a row sent, and the bridge's ``ack``
deletes it (or, with ``broker.confirm = "broker"``, the PUBACK deletes it): see
:mod:`agent.link.confirm`, which also decides when sent rows go again.
An MQTT 5 PUBACK with a failure reason code (>= 0x80) keeps the row: it is published
again after a backoff. paho re-sends in-flight messages after a reconnect; after a
restart of the process the outbox itself is replayed from its oldest row, and the
bridge deduplicates by ``seq``.

Callbacks that run while a connection is up (connect, publish, message) never touch
the disk: acknowledgements are handed to the publisher thread, which deletes the rows,
and the connection state shown by ``bin-agent status`` is written by it too. The one
write on paho's thread is arming the next attempt's Will (after a disconnect or a failed
attempt, when no connection exists whose keepalive could lapse): its ``bd_seq`` is
persisted before a Will carrying it can reach the broker, so a restart continues at the
next value, +1 as the protocol says, and never reuses one a stale death may carry.
Incoming commands and configuration are handed to the agent.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from agent.clock import Clock
from agent.link.client import bin_client
from agent.link.confirm import Confirmations
from agent.link.refusals import RefusedRows
from agent.storage.localdb import LocalDb
from agent.storage.outbox import Outbox, OutboxRow, counter_origin
from firmware_config.schema import Broker
from protocol.backoff import Backoff
from protocol.mqtt_client import (
    ConnectFailure,
    ConnectFailures,
)
from protocol.topics import TopicKind, bin_topic
from protocol.transport import BrokerUrl

log = logging.getLogger(__name__)

StatePayload = Callable[[int, bool, str], bytes]
"""Builds a state message from ``(bd_seq, online, reason)``."""
MessageHandler = Callable[[str, bytes], None]


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """A snapshot of the connection for health reports and ``bin-agent status``."""

    connected: bool
    reconnects: int
    bd_seq: int
    inflight: int
    last_error: str | None = None
    """Why the latest connection attempt failed (``None`` once connected)."""


class MqttLink:
    """One bin's connection to the broker, fed by its outbox."""

    STABLE_AFTER_S = 30.0

    def __init__(
        self,
        *,
        bin_id: str,
        broker: Broker,
        endpoint: BrokerUrl,
        outbox: Outbox,
        db: LocalDb,
        clock: Clock,
        rng: random.Random,
        state_topic: str,
        state_payload: StatePayload,
        subscriptions: list[str],
        on_message: MessageHandler,
        refused_retry_s: float = 30.0,
    ) -> None:
        self.bin_id = bin_id
        self.broker = broker
        self.endpoint = endpoint
        self.outbox = outbox
        self.db = db
        self.clock = clock
        self.state_topic = state_topic
        self.state_payload = state_payload
        self.subscriptions = subscriptions
        self.on_message = on_message
        # The configuration does not tie the two bounds together; the longest delay is
        # never shorter than the first.
        self.backoff = Backoff(
            broker.backoff_min_s, max(broker.backoff_max_s, broker.backoff_min_s), rng
        )
        self.window = broker.inflight

        self._cv = threading.Condition()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._acked: list[int] = []
        self._handed_seq = 0
        self._connected = False
        self._connected_at = 0.0
        self._stopping = threading.Event()
        self._reconnects = 0
        self._ever_connected = False
        # The last bd_seq armed by an earlier run (persisted before its Will could be
        # sent). A fresh database starts from the clock, like seq: the bridge ignores a
        # birth whose bd_seq is not above the last one it saw from this bin.
        stored = db.get("bd_seq")
        self._bd_seq = int(stored) if stored is not None else counter_origin(clock)
        self._link_state: dict[str, Any] | None = None  # to be written by the publisher
        self._refused = RefusedRows(refused_retry_s, broker.backoff_max_s, clock.monotonic)
        self._publisher: threading.Thread | None = None
        self._state_mids: set[int] = set()
        self._early_acks: set[int] = set()
        self.confirmations = Confirmations(
            outbox,
            clock,
            bin_id=bin_id,
            end_to_end=broker.confirm == "bridge",
            timeout_s=broker.confirm_timeout_s,
            ack_topic=bin_topic(bin_id, TopicKind.ACK, prefix=broker.topic_prefix),
        )

        self.client = self._make_client()

    # -- setup -------------------------------------------------------------------------

    @property
    def refused_retry_s(self) -> float:
        """First delay before a row the broker refused goes again (it doubles after)."""
        return self._refused.first_s

    @refused_retry_s.setter
    def refused_retry_s(self, seconds: float) -> None:
        self._refused.first_s = seconds

    def _make_client(self) -> mqtt.Client:
        client, tls = bin_client(self.bin_id, self.broker, self.endpoint)
        self._failures = ConnectFailures(client, tls=tls)
        client.max_inflight_messages_set(self.window)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background and start publishing from the outbox."""
        self._arm_will()
        self._apply_backoff()
        kwargs: dict[str, Any] = {}
        if self.broker.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 86_400
            kwargs = {"clean_start": False, "properties": props}
        self.client.connect_async(
            self.endpoint.host, self.endpoint.port, keepalive=self.broker.keepalive_s, **kwargs
        )
        self.client.loop_start()
        self._publisher = threading.Thread(
            target=self._publish_loop, name=f"outbox-{self.bin_id}", daemon=True
        )
        self._publisher.start()

    def stop(self, *, timeout: float = 5.0) -> None:
        """Publish a retained ``shutdown`` death, then disconnect cleanly.

        A normal DISCONNECT suppresses the Will, so the offline state is published
        here; unacknowledged outbox rows stay stored for the next run.
        """
        self._stopping.set()
        self.wake()
        if self._publisher is not None:
            self._publisher.join(timeout=timeout)
        with self._cv:
            connected = self._connected
        if connected:
            info = self.client.publish(
                self.state_topic,
                self.state_payload(self._bd_seq, False, "shutdown"),
                qos=1,
                retain=True,
            )
            try:
                info.wait_for_publish(timeout=timeout)
            except (RuntimeError, ValueError):
                log.warning("shutdown state of %s not acknowledged", self.bin_id)
        self._flush_acks(final=True)
        self._persist_link_state()
        self.client.disconnect()
        self.client.loop_stop()

    def kill(self) -> None:
        """Drop the connection without a DISCONNECT (tests: the broker sends the Will)."""
        self._stopping.set()
        self.wake()
        sock = self.client.socket()
        if sock is not None:
            sock.close()
        self.client.loop_stop()

    def wake(self) -> None:
        """Tell the publisher something changed (new outbox row, ack, connection)."""
        with self._cv:
            self._cv.notify_all()

    def status(self) -> LinkStatus:
        """Connection state and counters."""
        with self._cv:
            return LinkStatus(
                connected=self._connected,
                reconnects=self._reconnects,
                bd_seq=self._bd_seq,
                inflight=len(self._inflight),
                last_error=self._failures.last_reason,
            )

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected (for tools and tests); False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: self._connected, timeout=timeout)

    def publish_direct(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Publish outside the outbox: only for retained state such as config/reported."""
        self.client.publish(topic, payload, qos=1, retain=retain)

    # -- connection callbacks (paho thread: never block) ---------------------------------

    def _arm_will(self) -> None:
        """Give the next connection attempt a new bd_seq and the matching Will.

        Runs before the first attempt and in paho's disconnect and connect-fail
        callbacks: no connection is up then, so the short write delays only the next
        attempt. The value is on disk before the Will carrying it can reach the broker.
        """
        with self._cv:
            self._bd_seq += 1
            bd_seq = self._bd_seq
        self.db.put_many({"bd_seq": bd_seq})
        self.client.will_set(
            self.state_topic, self.state_payload(bd_seq, False, "lost"), qos=1, retain=True
        )

    def _note_link_state(self, connected: bool, error: str | None = None) -> None:
        """Remember the connection state (and why it failed) for the publisher to persist."""
        state: dict[str, Any] = {"connected": connected, "since": self.clock.now().isoformat()}
        if error is not None:
            state["error"] = error
        with self._cv:
            self._link_state = state
            self._cv.notify_all()

    def _persist_link_state(self) -> None:
        """Write the connection state for ``bin-agent status`` (agent side)."""
        with self._cv:
            state, self._link_state = self._link_state, None
        if state is not None:
            self.db.put_many({"link": state})

    def _apply_backoff(self) -> None:
        delay = self.backoff.next_delay()
        # paho annotates the delays as int but computes with them as seconds; a float
        # keeps the jitter finer than a second.
        self.client.reconnect_delay_set(cast(int, delay), cast(int, delay))

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker %s refused %s: %s", self.endpoint, self.bin_id, reason_code.getName())
            self._note_link_state(False, self._failures.refused(reason_code).reason)
            return
        self._failures.connected()
        with self._cv:
            bd_seq = self._bd_seq
        log.info("%s connected to %s (bd_seq %d)", self.bin_id, self.endpoint, bd_seq)
        for topic in self.subscriptions:
            client.subscribe(topic, qos=1)
        if self.confirmations.end_to_end:
            client.subscribe(self.confirmations.ack_topic, qos=1)
        # The birth goes first: the publisher hands outbox rows to paho only once the
        # link is marked connected below, so no message of this connection precedes it
        # (the bridge registers a new bin's region from its birth).
        birth = client.publish(
            self.state_topic, self.state_payload(bd_seq, True, "connect"), qos=1, retain=True
        )
        with self._cv:
            self._state_mids.add(birth.mid)
            self._connected = True
            self._connected_at = self.clock.monotonic()
            if self._ever_connected:
                self._reconnects += 1
            self._ever_connected = True
            handed = self._handed_seq
            self._cv.notify_all()
        self.confirmations.reconnected(handed)
        self._note_link_state(True)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._connect_failed(self._failures.connect_failed())
        if not self._stopping.is_set():
            self._arm_will()
            self._apply_backoff()

    def _connect_failed(self, failure: ConnectFailure) -> None:
        """Say why an attempt failed: in the log (a repeat quietly) and in the link state."""
        log.log(
            failure.level,
            "%s cannot connect to %s: %s; retrying",
            self.bin_id,
            self.endpoint,
            failure.reason,
        )
        if not failure.repeated:
            self._note_link_state(False, failure.reason)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cv:
            was_connected = self._connected
            self._connected = False
            if was_connected and self.clock.monotonic() - self._connected_at > self.STABLE_AFTER_S:
                self.backoff.reset()
            self._cv.notify_all()
        if self._stopping.is_set():
            return
        if was_connected:
            log.warning("%s lost its connection: %s", self.bin_id, reason_code.getName())
            self._note_link_state(False)
        else:  # hung up before accepting: how a broker refuses a client's certificate
            self._connect_failed(self._failures.closed_early())
        self._arm_will()
        self._apply_backoff()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # paho calls this holding its own message lock: take only ours, briefly.
        with self._cv:
            seq = self._inflight.pop(mid, None)
            if seq is None:
                if mid in self._state_mids:
                    self._state_mids.discard(mid)
                else:
                    # The ack overtook the publisher's bookkeeping; it settles it.
                    self._early_acks.add(mid)
                return
            if reason_code.is_failure:
                # MQTT 5 negative PUBACK: the broker did not take the message; keep the
                # row and publish it again after a backoff.
                delay = self._refused.refuse(seq)
                log.error(
                    "broker refused %s seq %d (reason 0x%02X %s); retrying in %.0f s",
                    self.bin_id,
                    seq,
                    reason_code.value,
                    reason_code.getName(),
                    delay,
                )
            else:
                self._refused.accepted(seq)
                self._acked.append(seq)
            self._cv.notify_all()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic == self.confirmations.ack_topic:
                self.confirmations.receive(bytes(message.payload))
                self.wake()
                return
            self.on_message(message.topic, bytes(message.payload))
        except Exception:
            log.exception("handler failed for message on %s", message.topic)

    # -- publisher thread ---------------------------------------------------------------

    def _flush_acks(self, *, final: bool = False) -> None:
        with self._cv:
            acked, self._acked = self._acked, []
        self.confirmations.settle(acked, final=final)

    def _publish_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._publish_once()
            except Exception:
                log.exception("outbox publisher of %s failed; retrying", self.bin_id)
                self._stopping.wait(1.0)

    def _due_retries(self, room: int) -> list[OutboxRow]:
        """Refused rows whose backoff has passed (still stored), oldest first."""
        with self._cv:
            due = self._refused.due(room)
        rows = []
        for seq in due:
            found = self.outbox.pending(seq - 1, 1)
            if found and found[0].seq == seq:
                rows.append(found[0])
            else:
                with self._cv:  # acknowledged or dropped meanwhile
                    self._refused.forget(seq)
        return rows

    def _hand(self, row: OutboxRow) -> bool:
        """Give one row to paho; False if paho refused it."""
        info = self.client.publish(row.topic, row.payload, qos=1, retain=row.retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.error("paho refused seq %d of %s: %s", row.seq, self.bin_id, info.rc)
            return False
        with self._cv:
            self._handed_seq = max(self._handed_seq, row.seq)
            if info.mid in self._early_acks:
                self._early_acks.discard(info.mid)
                self._acked.append(row.seq)
            else:
                self._inflight[info.mid] = row.seq
        return True

    def _publish_once(self) -> None:
        # Rule: never call into paho while holding self._cv (paho holds its own lock
        # when it calls _on_publish, which takes ours).
        self._flush_acks()
        self._persist_link_state()
        with self._cv:
            room = self.window - len(self._inflight)
            if not (self._connected and room > 0):
                self._cv.wait(timeout=0.5)
                return
        retries = self._due_retries(room)
        for row in retries:
            if self._stopping.is_set() or not self.status().connected:
                return
            with self._cv:
                self._refused.taken(row.seq)
            if not self._hand(row):
                return
        room -= len(retries)
        if room <= 0:
            return
        with self._cv:
            inflight, handed = set(self._inflight.values()), self._handed_seq
        again = self.confirmations.resend(room, inflight, handed)
        for row in again:
            if self._stopping.is_set() or not self.status().connected or not self._hand(row):
                return
        room -= len(again)
        if room <= 0 or self.confirmations.resending():
            return  # new rows follow once the older ones went again: seq order
        rows = self.outbox.pending(self._handed_seq, room)
        if not rows:
            with self._cv:
                idle = not self._acked and self._link_state is None and not retries
                idle = idle and not again and not self.confirmations.waiting()
                if idle and self.outbox.last_seq <= self._handed_seq:
                    self._cv.wait(timeout=0.5)
            return
        for row in rows:
            if self._stopping.is_set() or not self.status().connected:
                return
            if not self._hand(row):
                return
