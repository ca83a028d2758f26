"""The runtime's writes to the agent database, and what it does when they are refused.

An event is stored with the bin's state in one transaction, so a counter or an alarm
and the event reporting it are never out of step after a power loss. When the database
refuses a write (disk full, locked), the bin keeps serving: the event is held in memory,
in order, the ``storage``/``write_failed`` fault is raised, and the writes are tried
again every :data:`WRITE_RETRY_S` until they succeed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from agent.clock import Clock
from agent.errors import StorageError
from agent.link.messages import MODELS_BY_EVENT, MessageFactory
from agent.ops.sysinfo import disk_free_mb
from agent.runtime.schedule import Schedule
from agent.storage.outbox import Outbox
from agent.storage.state import STATE_KEY, BinState, StateStore
from firmware_config.schema import DeviceConfig
from protocol.topics import TopicKind

log = logging.getLogger(__name__)

WRITE_RETRY_S = 1.0
"""How often writes are tried again while the agent database refuses them."""

StorageFault = Callable[[str | None, str | None], None]
"""Sets the one ``storage`` fault: ``(code, detail)``; a None code clears it."""


class DurableWrites:
    """Events and the bin's state, stored together; held back and retried when refused."""

    def __init__(
        self,
        *,
        db: StateStore,
        outbox: Outbox,
        messages: MessageFactory,
        state: BinState,
        clock: Clock,
        schedule: Schedule,
        config: Callable[[], DeviceConfig],
        storage_fault: StorageFault,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._messages = messages
        self._state = state
        self._clock = clock
        self._schedule = schedule
        self._config = config
        self._storage_fault = storage_fault
        self._unsaved: list[tuple[str, dict[str, Any]]] = []
        """Events that could not be stored yet (database refusing writes), oldest first."""
        self.failure: str | None = None
        """Why the latest write failed; None once writes succeed again."""

    def save_state(self, *, durable: bool = True) -> None:
        """Store the bin's state; a refused write raises the storage fault, never an error.

        The state in memory stays right, and it is written with the next stored event
        (or by the retry once writes succeed again).
        """
        try:
            self._state.save(self._db, durable=durable)
        except StorageError as err:
            self.write_failed(err)

    def write_failed(self, err: BaseException) -> None:
        """Note a refused write: log it once, raise ``storage``/``write_failed``, retry later."""
        detail = f"agent database write failed: {err}"
        if self.failure is None:
            log.error("%s; the bin keeps serving, writes are retried", detail)
        self._retry_later(detail)
        self._storage_fault("write_failed", detail)

    def _retry_later(self, detail: str) -> None:
        """Remember why writes fail and try them again in :data:`WRITE_RETRY_S`."""
        self.failure = detail
        self._schedule.after("retry_writes", self._clock.monotonic(), WRITE_RETRY_S)

    def retry(self) -> None:
        """Store the events held back, then the state; clear the fault when both work."""
        self._schedule.due.pop("retry_writes", None)
        if not self._flush_unsaved():
            return
        try:
            self._state.save(self._db)
        except StorageError as err:
            self.write_failed(err)
            return
        log.warning("agent database writes succeed again: %s", self.failure)
        self.failure = None
        self.check_storage()

    def _flush_unsaved(self) -> bool:
        """Store the held-back events in order; False (and retry later) if one is refused."""
        while self._unsaved:
            event_type, fields = self._unsaved[0]
            try:
                self._store_event(event_type, fields)
            except StorageError as err:
                self._retry_later(f"agent database write failed: {err}")
                return False
            self._unsaved.pop(0)
        return True

    def emit_event(self, event_type: str, fields: dict[str, Any]) -> int | None:
        """Store an ``events/{type}`` message durably (never dropped).

        The bin's state is written in the same transaction, so a counter or an alarm
        and the event reporting it are never out of step after a power loss. When the
        database refuses the write (disk full, locked), the event is held in memory, in
        order, and stored by the retry (returns None); the storage fault is raised.
        """
        if self._unsaved:
            self._unsaved.append((event_type, fields))
            return None
        try:
            return self._store_event(event_type, fields)
        except StorageError as err:
            self._unsaved.append((event_type, fields))
            self.write_failed(err)
            return None

    def _store_event(self, event_type: str, fields: dict[str, Any]) -> int | None:
        model = MODELS_BY_EVENT[event_type]
        return self._outbox.append(
            self._messages.topic(TopicKind.EVENT, event_type),
            self._messages.build(model, **fields),
            droppable=False,
            meta={STATE_KEY: self._state.dump()},
        )

    def check_storage(self) -> None:
        """Raise the worst storage fault there is (a refused write, a nearly full disk, a
        full outbox), or clear it."""
        if self.failure is not None:  # the worst storage fault while it lasts
            self._storage_fault("write_failed", self.failure)
            return
        config = self._config()
        stats = self._outbox.stats()
        free = disk_free_mb(config.storage.path)
        if free < config.thresholds.low_disk_mb:
            self._storage_fault("low_disk", f"{free:.0f} MB free")
        elif stats.over_limit:
            self._storage_fault("outbox_full", f"{stats.depth} rows, {stats.bytes} bytes of events")
        else:
            self._storage_fault(None, None)
