"""The SQLite store's connection: the one seam where sqlite3's exceptions become the
bridge's store errors.

Queries talk to a :class:`Connection`, never to ``sqlite3`` itself, so no caller of the
store sees a driver exception: an integrity violation leaves as
:class:`~cloud_bridge.errors.StoreConflict`, a failure that goes away (busy, locked,
full, I/O, read-only) as :class:`~cloud_bridge.errors.StoreUnavailable`, and anything
else (an SQL error such as "no such column") as :class:`~cloud_bridge.errors.StoreError`.
The driver's exception stays attached as ``__cause__`` for the logs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from cloud_bridge.errors import StoreConflict, StoreError, StoreUnavailable

SQLITE_ERROR = 1
"""SQLite's primary result code for an SQL error (the same statement fails again)."""


def store_error(error: sqlite3.Error) -> StoreError:
    """The store error that ``error`` stands for, with SQLite's message.

    An ``OperationalError`` is transient unless SQLite calls it an SQL error: busy,
    locked, read-only, full, I/O and schema-changed errors go away once the disk or the
    other process does; ``SQLITE_ERROR`` ("no such column", a malformed statement) comes
    back every time for the same work. An error raised without a code counts as
    transient: retrying keeps the messages.
    """
    if isinstance(error, sqlite3.IntegrityError):
        return StoreConflict(str(error))
    if isinstance(error, sqlite3.OperationalError):
        code = getattr(error, "sqlite_errorcode", None)
        if not isinstance(code, int) or code & 0xFF != SQLITE_ERROR:
            return StoreUnavailable(str(error))
    return StoreError(str(error))


class Cursor:
    """The result of one statement; an error met while stepping through its rows is a
    store error too (SQLite reads the rows after the first lazily)."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        """Rows the statement changed."""
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        """The rowid of the row an ``INSERT`` added."""
        return self._cursor.lastrowid

    def fetchone(self) -> Any:
        """The next row, or None."""
        try:
            return self._cursor.fetchone()
        except sqlite3.Error as err:
            raise store_error(err) from err

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self._cursor
        except sqlite3.Error as err:
            raise store_error(err) from err


class Connection:
    """An open ``sqlite3`` connection whose every failure raises a store error.

    Only the methods the store's queries use; the connection is in autocommit mode
    (``isolation_level=None``), so ``BEGIN`` and ``COMMIT`` are statements like others.
    """

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        """Run one statement."""
        try:
            return Cursor(self._db.execute(sql, parameters))
        except sqlite3.Error as err:
            raise store_error(err) from err

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Cursor:
        """Run one statement once per row of parameters."""
        try:
            return Cursor(self._db.executemany(sql, rows))
        except sqlite3.Error as err:
            raise store_error(err) from err

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (SQLite may have rolled one back on its own)."""
        return self._db.in_transaction

    def max_variables(self) -> int:
        """How many ``?`` one statement may hold."""
        return self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    def close(self) -> None:
        """Close the connection."""
        try:
            self._db.close()
        except sqlite3.Error as err:
            raise store_error(err) from err
