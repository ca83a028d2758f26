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

from cloud_bridge.errors import StoreError, StoreUnavailable
from cloud_bridge.store.sqlite.bins import BinTableMixin
from cloud_bridge.store.sqlite.connection import Connection, store_error
from cloud_bridge.store.sqlite.deliveries import DeliveryQueueMixin
from cloud_bridge.store.sqlite.facility import FacilityTablesMixin
from cloud_bridge.store.sqlite.forecasts import ForecastTableMixin
from cloud_bridge.store.sqlite.messages import MessageTablesMixin
from cloud_bridge.store.sqlite.migrations import apply_migrations, check_migrations
from cloud_bridge.store.sqlite.outbox import OutboxTableMixin
from cloud_bridge.store.sqlite.pickups import PickupTableMixin
from cloud_bridge.store.sqlite.readings import ReadingQueriesMixin
from cloud_bridge.store.sqlite.seq_resets import SeqResetTableMixin
from cloud_bridge.store.sqlite.technicians import TechnicianTablesMixin


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
    FacilityTablesMixin,
):
    """The bridge's store in one SQLite file (or in memory, for tests).

    One connection, used by one thread at a time: the bridge's writer thread. Open
    with ``readonly=True`` to inspect a database another process is writing. The SQL
    of each group of tables lives in its mixin; this class opens the file, migrates
    it and runs the transactions.
    """

    def is_transient(self, error: BaseException) -> bool:
        """Whether the same work may succeed later: a :class:`StoreUnavailable`.

        The store raises only store errors (see :func:`store_error`); an ``sqlite3``
        error raised by code around the store, on the same file, is judged as the store
        would translate it.
        """
        if isinstance(error, sqlite3.Error):
            error = store_error(error)
        return isinstance(error, StoreUnavailable)

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
        db = self._open(synchronous, wal_autocheckpoint_pages)
        self._db = Connection(db)
        self._in_transaction = False
        self._last_received: datetime | None = None
        self._ts_memo: dict[int, str] = {}
        self._multi_sql: dict[tuple[str, int], str] = {}
        self._max_variables = self._db.max_variables()
        self._last_received_text = ""

    def _open(
        self, synchronous: Literal["NORMAL", "FULL"], wal_autocheckpoint_pages: int
    ) -> sqlite3.Connection:
        """Connect, set the pragmas and migrate (a reader only checks the migrations).

        A failure names the file; its class says whether it may go away (a database
        locked by a migrating bridge) as :func:`store_error` would.
        """
        memory = self.path == ":memory:"
        try:
            if self.readonly:
                if memory or not Path(self.path).is_file():
                    raise StoreError(f"{self.path}: no bridge database here")
                uri = Path(self.path).resolve().as_uri() + "?mode=ro"
                db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                if not memory:
                    try:
                        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                    except OSError as err:
                        raise StoreError(f"{self.path}: {err.strerror or err}") from None
                db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout = 5000")
            if not self.readonly:
                if not memory:
                    db.execute("PRAGMA journal_mode = WAL")
                if synchronous not in ("NORMAL", "FULL"):
                    raise StoreError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
                db.execute(f"PRAGMA synchronous = {synchronous}")
                db.execute(f"PRAGMA wal_autocheckpoint = {int(wal_autocheckpoint_pages)}")
                apply_migrations(db, self.path)
            else:
                check_migrations(db, self.path)
        except sqlite3.Error as err:
            kind = type(store_error(err))
            raise kind(f"{self.path}: cannot open the bridge database: {err}") from None
        return db

    def migrations(self) -> list[str]:
        """Names of the applied migrations, in order."""
        return [row[0] for row in self._db.execute("SELECT name FROM schema_migrations")]

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
