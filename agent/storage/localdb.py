"""The agent's local SQLite database: one file holding the outbox and persisted state.

It is opened in WAL mode so ``bin-agent status`` can read while the agent writes, and
with ``synchronous=FULL`` so a committed event survives power loss. Schema changes are
small, named migrations applied in order inside one transaction each.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from agent.errors import StorageError

SET_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)
"""Upsert one key of the ``meta`` table (the value is JSON text)."""

Migration = Callable[[sqlite_utils.Database], None]


def _m001_outbox(db: sqlite_utils.Database) -> None:
    db["outbox"].create(  # type: ignore[union-attr]
        {
            "seq": int,
            "topic": str,
            "payload": bytes,
            "droppable": int,
            "size": int,
            "created_mono": float,
            "created_at": str,
        },
        pk="seq",
    )
    db["outbox"].create_index(["droppable", "seq"])  # type: ignore[union-attr]


def _m002_meta(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]


def _m003_outbox_retain(db: sqlite_utils.Database) -> None:
    # Retained rows (config/reported) are published with the MQTT retain flag.
    db.execute("ALTER TABLE outbox ADD COLUMN retain INTEGER NOT NULL DEFAULT 0")


def _m004_commands_seen(db: sqlite_utils.Database) -> None:
    # Ids of remote commands already taken, so a QoS 1 redelivery never runs twice.
    db["commands_seen"].create(  # type: ignore[union-attr]
        {"id": str, "name": str, "received_at": str}, pk="id"
    )


def _m005_outbox_sent(db: sqlite_utils.Database) -> None:
    # When the broker first acknowledged a row (NULL: not yet); the row stays until the
    # bridge confirms it stored the message (broker.confirm = "bridge").
    db.execute("ALTER TABLE outbox ADD COLUMN sent_at TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN sent_mono REAL")
    db.execute("CREATE INDEX outbox_sent ON outbox (sent_mono) WHERE sent_mono IS NOT NULL")


MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_outbox", _m001_outbox),
    ("002_meta", _m002_meta),
    ("003_outbox_retain", _m003_outbox_retain),
    ("004_commands_seen", _m004_commands_seen),
    ("005_outbox_sent", _m005_outbox_sent),
]


class LocalDb:
    """A thread-safe handle on the agent's database, with a small key-value store.

    Every access goes through one connection guarded by a lock: the agent's writes are
    few and small, and one connection keeps transactions simple and ordered.
    """

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        try:
            if readonly:
                uri = f"file:{self.path}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    str(self.path), check_same_thread=False, isolation_level=None, timeout=10
                )
            self.conn = conn
            self.db = sqlite_utils.Database(conn)
            if readonly:
                self._check_migrated()
            else:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                self._migrate()
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the agent database {self.path}: {err}") from err
        except OSError as err:
            raise StorageError(f"cannot create the agent database {self.path}: {err}") from err

    def _check_migrated(self) -> None:
        """A reader cannot upgrade the file: say so instead of failing on a missing column.

        After an upgrade, the new ``bin-agent status`` may meet a database the running
        (old) agent has not migrated yet; the agent migrates it when it starts.
        """
        tables = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master")}
        done: set[str] = set()
        if "_migrations" in tables:
            done = {row[0] for row in self.conn.execute("SELECT name FROM _migrations")}
        missing = [name for name, _ in MIGRATIONS if name not in done]
        if missing:
            raise StorageError(
                f"the agent database {self.path} was written by an older agent (migrations "
                f"{', '.join(missing)} not applied yet): restart the agent to upgrade it"
            )

    def _migrate(self) -> None:
        with self.transaction():
            self.conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY)")
            done = {row[0] for row in self.conn.execute("SELECT name FROM _migrations")}
            for name, migrate in MIGRATIONS:
                if name not in done:
                    migrate(self.db)
                    self.conn.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """Run a block in one ``BEGIN IMMEDIATE`` transaction under the lock.

        ``durable=False`` commits with ``synchronous=NORMAL``: safe against a crash of the
        process, not against power loss; used only where a lost commit is harmless
        (deleting acknowledged rows, which the bridge would deduplicate if resent).
        """
        with self._lock:
            try:
                if not durable:
                    self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self.conn
                    self.conn.execute("COMMIT")
                except BaseException:
                    # SQLite may have rolled back already (e.g. on a full disk): a second
                    # ROLLBACK would fail and hide the real error.
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as err:
                raise StorageError(f"{self.path}: {err}") from err
            finally:
                if not durable:
                    self._execute("PRAGMA synchronous=FULL")

    def _execute(self, sql: str) -> None:
        """Run one statement outside a transaction; a SQLite error becomes StorageError."""
        try:
            self.conn.execute(sql)
        except sqlite3.Error as err:
            raise StorageError(f"{self.path}: {err}") from err

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read query under the lock."""
        with self._lock:
            try:
                return list(self.conn.execute(sql, params))
            except sqlite3.Error as err:
                raise StorageError(f"{self.path}: {err}") from err

    def get(self, key: str, default: Any = None) -> Any:
        """A value from the key-value store (JSON-decoded)."""
        try:
            rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        except StorageError:
            if self.readonly:
                return default
            raise
        return json.loads(rows[0][0]) if rows else default

    def put(self, key: str, value: Any, *, conn: sqlite3.Connection | None = None) -> None:
        """Store a JSON-encodable value; inside ``transaction()`` pass its connection."""
        if conn is not None:
            conn.execute(SET_META, (key, json.dumps(value)))
            return
        with self.transaction() as tx:
            tx.execute(SET_META, (key, json.dumps(value)))

    def put_many(self, values: dict[str, Any], *, durable: bool = True) -> None:
        """Store several values in one transaction (``durable``: see :meth:`transaction`)."""
        with self.transaction(durable=durable) as tx:
            for key, value in values.items():
                self.put(key, value, conn=tx)

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            try:
                self.conn.close()
            except sqlite3.Error as err:
                raise StorageError(f"{self.path}: {err}") from err
