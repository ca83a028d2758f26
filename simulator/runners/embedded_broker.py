"""An MQTT broker inside the simulator process (amqtt), so the demo needs no install.

amqtt is an asyncio broker; it runs here on its own event loop in a background
thread. It speaks MQTT 3.1.1, which is all the contract needs. For tests and
production the project uses Mosquitto; this one is for ``bin-sim demo`` only.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SnapshotDict(dict[str, Any]):
    """A dict whose iteration walks a copy of its keys or items.

    amqtt (0.12) walks its subscription table with an ``await`` inside the loop: when
    a client connects it sends retained messages for every topic filter, one await
    each, and when it broadcasts it checks each subscriber with an await. Another
    client subscribing to a new filter meanwhile (as every bin does for its own
    ``cmd`` and ``config/desired`` right after connecting) grows the table, and the
    walk dies with "dictionary changed size during iteration": a traceback in the
    demo, and the connecting client left half set up until it reconnects. Walking a
    copy sees the table as it was when the walk began, which is all either walk needs.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().keys()))

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return list(super().items())


def _retained_for_subscribers_only(broker: Any) -> None:
    """Send a client retained messages only for topic filters it subscribes to.

    When a client connects, amqtt 0.12 sends it the retained messages matching *every*
    filter any client subscribes to (meant for a resumed session's own filters): each
    bin would get every other bin's retained birth and configuration. Retained
    messages for a filter now go only to a session subscribed to it, which is also
    the case for every subscription the client makes itself.
    """
    publish = broker._publish_retained_messages_for_subscription

    async def subscribers_only(subscription: tuple[str, int], session: Any) -> None:
        subscribers = broker._subscriptions.get(subscription[0], ())
        if any(sub.client_id == session.client_id for sub, _qos in subscribers):
            await publish(subscription, session)

    broker._publish_retained_messages_for_subscription = subscribers_only


class EmbeddedBroker:
    """amqtt on 127.0.0.1:``port`` (a free port when 0), anonymous, in a thread."""

    def __init__(self, port: int = 0) -> None:
        self.port = port or _free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="amqtt", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._broker: Any = None

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://127.0.0.1:{self.port}"

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {
                "default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}", "max_connections": 0}
            },
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            from amqtt.broker import Broker

            async def start() -> None:
                self._broker = Broker(self._config(), loop=self._loop)
                subscriptions = getattr(self._broker, "_subscriptions", None)
                if isinstance(subscriptions, dict):
                    self._broker._subscriptions = SnapshotDict(subscriptions)
                    _retained_for_subscribers_only(self._broker)
                await self._broker.start()

            self._loop.run_until_complete(start())
        except Exception as err:  # noqa: BLE001 - re-raised in the thread that called start()
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; raise if the broker could not start."""
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"embedded broker did not start on port {self.port}")
        if self._error is not None:
            raise RuntimeError(f"embedded broker failed to start: {self._error}") from self._error

    def stop(self) -> None:
        """Shut the broker down and end its thread."""
        if self._broker is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                future.result(timeout=10)
            except Exception:
                log.exception("embedded broker did not shut down cleanly")
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
