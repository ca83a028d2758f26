"""What only the SQLite store has: a file, read-only URIs, its named migrations,
SQLite's own error codes.

The behaviour every back-end shares is tested in ``tests/contract/test_store_contract.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cloud_bridge.domain.records import Flag
from cloud_bridge.errors import StoreConflict, StoreError, StoreUnavailable
from cloud_bridge.store.sqlite.connection import store_error
from cloud_bridge.store.sqlite.migrations import MIGRATIONS
from cloud_bridge.store.sqlite.store import SQLiteStore


def test_reopening_a_file_applies_no_migration_twice(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    SQLiteStore(path).close()
    again = SQLiteStore(path)
    assert again.migrations() == [name for name, _ in MIGRATIONS]
    again.close()
    reader = SQLiteStore(path, readonly=True)
    assert reader.load_bins() == []
    reader.close()


def test_readers_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no bridge database"):
        SQLiteStore(tmp_path / "absent.db", readonly=True)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreError, match="not a bridge database"):
        SQLiteStore(other, readonly=True)
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not SQLite at all" * 100)
    with pytest.raises(StoreError, match=r"(not a bridge database)|(cannot open)"):
        SQLiteStore(text, readonly=True)


def test_a_database_from_before_the_technicians_migration_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    for name, sql in MIGRATIONS[:7]:
        for statement in sql.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
    db.execute(
        "INSERT INTO bins (bin_id, region, online, last_seq, stored_seq, telemetry_seq, "
        "emptied_seq, alarms, faults, health_seq, config_seq) "
        "VALUES ('bin-001', 'north', 1, 5, 5, 0, 0, '{\"fire\": [true, 3]}', '{}', 0, 0)"
    )
    db.execute("INSERT INTO outbox (topic, payload) VALUES ('fleet/v1/pickups/north', x'7b7d')")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    try:
        assert store.migrations() == [name for name, _ in MIGRATIONS]
        assert store.migrations()[7:9] == ["008_technicians", "009_pickup_revision"]
        (record,) = store.load_bins()
        assert record.alarms == {"fire": Flag(True, 3, None)}
        assert (record.health, record.offline_since, record.desired_version) == (None, None, None)
        (publication,) = store.pending_publications()
        assert not publication.retain
        assert store.list_tickets() == []
    finally:
        store.close()


def test_which_store_errors_are_worth_retrying(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    store = SQLiteStore(path)
    # another process holds the write lock: busy, gone once it commits
    other = sqlite3.connect(path, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    blocked = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as locked:
        blocked.execute("BEGIN IMMEDIATE")
    other.rollback()
    assert "locked" in str(locked.value)
    assert store.is_transient(locked.value)
    # an SQL error comes back for the same work every time
    with pytest.raises(sqlite3.OperationalError) as sql:
        blocked.execute("SELECT * FROM no_such_table")
    assert not store.is_transient(sql.value)
    # an error without SQLite's code (as raised by a wrapper) keeps the messages
    assert store.is_transient(sqlite3.OperationalError("database or disk is full"))
    assert not store.is_transient(KeyError("bug"))
    assert not store.is_transient(sqlite3.IntegrityError("UNIQUE constraint failed"))
    other.close()
    blocked.close()
    store.close()


def test_sqlites_errors_leave_the_store_as_store_errors(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    store = SQLiteStore(path)
    reader = SQLiteStore(path, readonly=True)
    # read-only goes away once the file may be written again: transient
    with pytest.raises(StoreUnavailable, match="readonly") as readonly, reader.transaction():
        reader.queue_publication("fleet/v1/pickups/north", b"{}")
    assert isinstance(readonly.value.__cause__, sqlite3.OperationalError)
    assert store.is_transient(readonly.value)
    # an SQL error (a damaged schema) comes back every time: not transient
    other = sqlite3.connect(path)
    other.execute("DROP TABLE forecasts")
    other.commit()
    other.close()
    with pytest.raises(StoreError, match="no such table") as sql:
        store.load_forecasts()
    assert not isinstance(sql.value, StoreUnavailable | StoreConflict)
    assert not store.is_transient(sql.value)
    # what the bridge's retry loop sees for a database locked by another process
    other = sqlite3.connect(path, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    blocked = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as locked:
        blocked.execute("BEGIN IMMEDIATE")
    other.rollback()
    other.close()
    blocked.close()
    assert isinstance(store_error(locked.value), StoreUnavailable)
    assert isinstance(store_error(sqlite3.IntegrityError("UNIQUE")), StoreConflict)
    reader.close()
    store.close()
