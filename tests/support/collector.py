"""An outside MQTT client that records what it hears, for assertions without sleeps."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class Received:
    """One message as the collector saw it."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> dict[str, Any]:
        """The payload decoded as a JSON object."""
        value = json.loads(self.payload)
        assert isinstance(value, dict)
        return value


class Collector:
    """A paho subscriber with a persistent session (it survives broker restarts
    when the broker persists sessions) that keeps every message it receives."""

    def __init__(self, port: int, topics: list[str], *, client_id: str | None = None) -> None:
        self.messages: list[Received] = []
        self._cv = threading.Condition()
        self._subscribed = threading.Event()
        self.topics = topics
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"collector-{uuid.uuid4().hex[:8]}",
            clean_session=False,
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.reconnect_delay_set(0, 1)
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("collector could not subscribe")

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cv:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cv.notify_all()

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 15.0
    ) -> list[Received]:
        """Block until ``predicate(messages)`` holds; raise TimeoutError otherwise."""
        with self._cv:
            if not self._cv.wait_for(lambda: predicate(self.messages), timeout=timeout):
                topics = [m.topic for m in self.messages[-5:]]
                raise TimeoutError(
                    f"condition not met after {timeout} s; {len(self.messages)} messages, "
                    f"last topics {topics}"
                )
            return list(self.messages)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Collector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
