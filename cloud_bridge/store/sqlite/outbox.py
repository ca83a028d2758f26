"""The ``outbox`` table in SQLite: publications decided in a batch, kept until the broker
confirms them.

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore`. Queued in the same
transaction as the change they announce, so a crash between commit and publish loses
nothing: what is left is published again at the next start.
"""

from __future__ import annotations

from collections.abc import Iterable

from cloud_bridge.domain.records import Publication
from cloud_bridge.store.sqlite.connection import Connection


class OutboxTableMixin:
    """SQL of the ``outbox`` table."""

    _db: Connection

    def queue_publication(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Append to the outbox."""
        cursor = self._db.execute(
            "INSERT INTO outbox (topic, payload, retain) VALUES (?, ?, ?)",
            (topic, payload, int(retain)),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def remove_publications(self, ids: Iterable[int]) -> None:
        """Delete acknowledged outbox entries."""
        self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def pending_publications(self) -> list[Publication]:
        """The outbox, oldest first."""
        rows = self._db.execute("SELECT id, topic, payload, retain FROM outbox ORDER BY id")
        return [Publication(id=i, topic=t, payload=bytes(p), retain=bool(r)) for i, t, p, r in rows]
