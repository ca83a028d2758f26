"""Cloud-to-bin messages: taken on the MQTT thread, handled on the runtime's.

:meth:`Inbox.receive` only parses the topic and queues the payload (it never blocks
the network thread); the runtime hands each queued payload to the handler of its kind
(``cmd``, ``config/desired``) between its other work, so a handler never races a
deposit.
"""

from __future__ import annotations

import functools
import logging
import queue
from collections.abc import Callable
from typing import Any

from protocol.errors import UnknownTopic
from protocol.topics import BinTopic, TopicKind, parse_bin_topic

log = logging.getLogger(__name__)

InboundHandler = Callable[[bytes], None]
"""Handles the payload of one cloud-to-bin message (``cmd``, ``config/desired``)."""

Guard = Callable[[str, Callable[[], Any]], Any]
"""Runs one task, logging (never raising) its failure: the runtime's ``_guarded``."""


class Inbox:
    """The queue of one bin's incoming messages and their handlers by kind."""

    def __init__(self, *, bin_id: str, topic_prefix: str, wake: Callable[[], None]) -> None:
        self._bin_id = bin_id
        self._topic_prefix = topic_prefix
        self._wake = wake
        self.queue: queue.SimpleQueue[tuple[BinTopic, bytes]] = queue.SimpleQueue()
        self.handlers: dict[TopicKind, InboundHandler] = {}
        self._foreign_topics: set[str] = set()

    def receive(self, topic: str, payload: bytes) -> None:
        """Queue a cloud-to-bin message (called on the MQTT thread; never blocks)."""
        try:
            parsed = parse_bin_topic(topic, prefix=self._topic_prefix)
        except UnknownTopic as err:
            log.warning("ignoring a message: %s", err)
            return
        if parsed.bin_id != self._bin_id:
            # The broker delivered another bin's message: an ACL or broker fault. Say so
            # once per topic, not once per message.
            if topic not in self._foreign_topics:
                self._foreign_topics.add(topic)
                log.warning(
                    "%s ignores a message meant for another bin on %s",
                    self._bin_id,
                    topic,
                )
            return
        self.queue.put((parsed, payload))
        self._wake()

    def process(self, guarded: Guard) -> None:
        """Hand every queued message to its handler, each run through ``guarded``."""
        while True:
            try:
                parsed, payload = self.queue.get_nowait()
            except queue.Empty:
                return
            handler = self.handlers.get(parsed.kind)
            if handler is None:
                log.warning("no handler for %s messages", parsed.kind.value)
                continue
            guarded(f"handling a {parsed.kind.value} message", functools.partial(handler, payload))
