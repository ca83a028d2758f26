"""The ``seq_resets`` table in SQLite: technicians' requests to accept a re-flashed bin.

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore`. The CLI records a
request (see :class:`~cloud_bridge.store.protocols.SeqReset`); the writer applies it
with the offset it chooses and reads the offsets back at start.
"""

from __future__ import annotations

from datetime import datetime

from cloud_bridge.store.protocols import SeqReset
from cloud_bridge.store.sqlite.connection import Connection
from protocol import format_ts, parse_ts


class SeqResetTableMixin:
    """SQL of the ``seq_resets`` table."""

    _db: Connection

    def request_seq_reset(self, bin_id: str, at: datetime, actor: str) -> int:
        """Record a technician's request; the bridge applies it (see :class:`SeqReset`)."""
        cursor = self._db.execute(
            "INSERT INTO seq_resets (bin_id, requested_at, actor) VALUES (?, ?, ?)",
            (bin_id, format_ts(at), actor),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def apply_seq_reset(self, reset_id: int, seq_offset: int, at: datetime) -> None:
        """Mark a reset applied with the offset the bridge chose."""
        self._db.execute(
            "UPDATE seq_resets SET applied_at = ?, seq_offset = ? WHERE id = ?",
            (format_ts(at), seq_offset, reset_id),
        )

    def list_seq_resets(
        self, *, pending_only: bool = False, bin_id: str | None = None
    ) -> list[SeqReset]:
        """Resets in the order they were requested."""
        where = ["1"]
        args: list[object] = []
        if pending_only:
            where.append("applied_at IS NULL")
        if bin_id is not None:
            where.append("bin_id = ?")
            args.append(bin_id)
        rows = self._db.execute(
            "SELECT id, bin_id, requested_at, actor, applied_at, seq_offset FROM seq_resets "
            f"WHERE {' AND '.join(where)} ORDER BY id",
            args,
        )
        return [
            SeqReset(
                reset_id=i,
                bin_id=b,
                requested_at=parse_ts(r),
                actor=a,
                applied_at=None if t is None else parse_ts(t),
                seq_offset=o,
            )
            for i, b, r, a, t, o in rows
        ]

    def seq_offsets(self) -> dict[str, int]:
        """The offset of each bin's latest applied reset (bins never reset are absent)."""
        rows = self._db.execute(
            "SELECT bin_id, seq_offset FROM seq_resets WHERE id IN ("
            "SELECT MAX(id) FROM seq_resets WHERE applied_at IS NOT NULL GROUP BY bin_id)"
        )
        return {bin_id: offset for bin_id, offset in rows}
