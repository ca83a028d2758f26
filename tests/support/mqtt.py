"""Plain paho clients for tests: a publisher that waits for acknowledgements and a
collector that queues what it receives, as an outside client of the contract would."""

from __future__ import annotations

import queue
import threading
import uuid
from types import TracebackType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Client:
    """A connected paho client (MQTT 3.1.1) running its own network thread."""

    def __init__(self, port: int, *, client_id: str | None = None) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv311,
        )
        self.client.max_inflight_messages_set(1000)
        self._subscribed = threading.Event()
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.on_subscribe = lambda *_args: self._subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait until the broker has it."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"broker did not acknowledge {topic}"

    def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish QoS 1 messages back to back, then wait for every acknowledgement."""
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe and wait for the SUBACK."""
        self._subscribed.clear()
        self.client.subscribe(topic, qos)
        assert self._subscribed.wait(10), f"no SUBACK for {topic}"

    def take(self, count: int, timeout: float = 10.0) -> list[mqtt.MQTTMessage]:
        """The next ``count`` received messages; fails if they do not come in time."""
        taken = []
        for _ in range(count):
            try:
                taken.append(self.messages.get(timeout=timeout))
            except queue.Empty:
                raise AssertionError(f"received {len(taken)} of {count} messages") from None
        return taken

    def take_nowait(self) -> list[mqtt.MQTTMessage]:
        """Whatever was received and not taken yet, without waiting."""
        taken = []
        while True:
            try:
                taken.append(self.messages.get_nowait())
            except queue.Empty:
                return taken

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
