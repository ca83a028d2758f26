"""SQLite implementation of the bridge's :class:`~cloud_bridge.store.protocols.Store`.

WAL journal, ``synchronous`` NORMAL or FULL from the settings, one explicit
transaction per batch, and small named migrations applied in order, each in its own
transaction, recorded in ``schema_migrations``. The high-volume tables (``messages``,
``telemetry``) are rowid tables with a unique ``(bin_id, seq)`` index: appends stay
sequential, which halves the insert cost of a clustered ``WITHOUT ROWID`` key.
Readers (the CLI) open the same file read-only while the bridge writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

from cloud_bridge.errors import StoreError
from cloud_bridge.store.sqlite.bins import BinTableMixin
from cloud_bridge.store.sqlite.deliveries import DeliveryQueueMixin
from cloud_bridge.store.sqlite.forecasts import ForecastTableMixin
from cloud_bridge.store.sqlite.messages import MessageTablesMixin
from cloud_bridge.store.sqlite.migrations import (
    applied_migrations,
    apply_migrations,
    check_migrations,
)
from cloud_bridge.store.sqlite.outbox import OutboxTableMixin
from cloud_bridge.store.sqlite.pickups import PickupTableMixin
from cloud_bridge.store.sqlite.readings import ReadingQueriesMixin
from cloud_bridge.store.sqlite.seq_resets import SeqResetTableMixin
from cloud_bridge.store.sqlite.technicians import TechnicianTablesMixin

SQLITE_ERROR = 1
"""SQLite's primary result code for an SQL error (the same statement fails again)."""


class SQLiteStore(
    MessageTablesMixin,
    ReadingQueriesMixin,
    BinTableMixin,
    PickupTableMixin,
    ForecastTableMixin,
    OutboxTableMixin,
    SeqResetTableMixin,
    DeliveryQueueMixin,
    TechnicianTablesMixin,
):
    """The bridge's store in one SQLite file (or in memory, for tests).

    One connection, used by one thread at a time: the bridge's writer thread. Open
    with ``readonly=True`` to inspect a database another process is writing. The SQL
    of each group of tables lives in its mixin; this class opens the file, migrates
    it and runs the transactions.
    """

    def is_transient(self, error: BaseException) -> bool:
        """An ``OperationalError`` is transient unless SQLite calls it an SQL error.

        Busy, locked, read-only, full, I/O and schema-changed errors go away once the
        disk or the other process does; ``SQLITE_ERROR`` ("no such column", a malformed
        statement) comes back every time for the same work. An error raised without a
        code counts as transient: retrying keeps the messages.
        """
        if not isinstance(error, sqlite3.OperationalError):
            return False
        code = getattr(error, "sqlite_errorcode", None)
        return not isinstance(code, int) or code & 0xFF != SQLITE_ERROR

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        wal_autocheckpoint_pages: int = 10_000,
        readonly: bool = False,
    ) -> None:
        self.path = str(path)
        self.readonly = readonly
        memory = self.path == ":memory:"
        try:
            if readonly:
                if memory or not Path(self.path).is_file():
                    raise StoreError(f"{self.path}: no bridge database here")
                uri = Path(self.path).resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False
                )
            else:
                if not memory:
                    try:
                        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                    except OSError as err:
                        raise StoreError(f"{self.path}: {err.strerror or err}") from None
                self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            if not readonly:
                if not memory:
                    self._db.execute("PRAGMA journal_mode = WAL")
                if synchronous not in ("NORMAL", "FULL"):
                    raise StoreError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
                self._db.execute(f"PRAGMA synchronous = {synchronous}")
                self._db.execute(f"PRAGMA wal_autocheckpoint = {int(wal_autocheckpoint_pages)}")
                apply_migrations(self._db, self.path)
            else:
                check_migrations(self._db, self.path)
        except sqlite3.Error as err:
            raise StoreError(f"{self.path}: cannot open the bridge database: {err}") from None
        self._in_transaction = False
        self._last_received: datetime | None = None
        self._ts_memo: dict[int, str] = {}
        self._multi_sql: dict[tuple[str, int], str] = {}
        self._max_variables = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._last_received_text = ""

    def migrations(self) -> list[str]:
        """Names of the applied migrations, in order."""
        return applied_migrations(self._db)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception."""
        if self._in_transaction:
            raise RuntimeError("transactions do not nest")
        self._db.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self._ts_memo.clear()
            self._in_transaction = False
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._ts_memo.clear()
        self._in_transaction = False
        self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
