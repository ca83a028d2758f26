"""SQLite implementation of the bridge's :class:`~cloud_bridge.store.protocols.Store`.

WAL journal, ``synchronous`` NORMAL or FULL from the settings, one explicit
transaction per batch, and small named migrations applied in order, each in its own
transaction, recorded in ``schema_migrations``. The high-volume tables (``messages``,
``telemetry``) are rowid tables with a unique ``(bin_id, seq)`` index: appends stay
sequential, which halves the insert cost of a clustered ``WITHOUT ROWID`` key.
Readers (the CLI) open the same file read-only while the bridge writes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.domain.records import (
    OPEN_STATUSES,
    BinRecord,
    DepositRow,
    Flag,
    HealthSnapshot,
    PickupRecord,
    Publication,
    RejectionCount,
)
from cloud_bridge.errors import StoreError
from cloud_bridge.store.protocols import FillPoint, SeqReset, StoredMessage
from cloud_bridge.store.sqlite.deliveries import DeliveryQueueMixin
from cloud_bridge.store.sqlite.technicians import TechnicianTablesMixin
from cloud_bridge.store.sqlite.timestamps import dt as _dt
from cloud_bridge.store.sqlite.timestamps import fmt as _fmt
from cloud_bridge.store.sqlite.timestamps import ts as _ts
from protocol import DepositEvent, Location, ManifestEntry, State, Telemetry, format_ts, parse_ts

logger = logging.getLogger(__name__)

SQLITE_ERROR = 1
"""SQLite's primary result code for an SQL error (the same statement fails again)."""

_AT = "(CASE WHEN clock_synced = 0 AND received_at IS NOT NULL THEN received_at ELSE ts END)"
"""When a reading or deposit happened as well as the bridge knows (``FillPoint.at``): the
bin's ``ts`` unless its clock was unsynced, then the bridge's reception time. Date
ranges filter on this (indexed), the same time the forecast uses."""

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "001_messages",
        """
        CREATE TABLE messages (
            bin_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            UNIQUE (bin_id, seq)
        );
        CREATE TABLE telemetry (
            bin_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            fill_pct REAL,
            fill_mm REAL,
            weight_kg REAL,
            temp_c REAL,
            door TEXT NOT NULL,
            deposits_since_empty INTEGER NOT NULL,
            UNIQUE (bin_id, seq)
        );
        CREATE TABLE deposits (
            bin_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            deposit_id TEXT NOT NULL,
            ts TEXT NOT NULL,
            category TEXT NOT NULL,
            confidence REAL NOT NULL,
            accepted INTEGER NOT NULL,
            reason TEXT,
            weight_g REAL NOT NULL,
            model TEXT NOT NULL,
            PRIMARY KEY (bin_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE state_log (
            bin_id TEXT NOT NULL,
            bd_seq INTEGER NOT NULL,
            online INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            reason TEXT NOT NULL,
            ts TEXT NOT NULL,
            received_at TEXT NOT NULL,
            applied INTEGER NOT NULL,
            PRIMARY KEY (bin_id, bd_seq, online)
        ) WITHOUT ROWID;
        CREATE VIEW events AS
            SELECT bin_id, seq, kind, ts, received_at, payload FROM messages
            WHERE kind LIKE 'events/%';
        """,
    ),
    (
        "002_bins",
        """
        CREATE TABLE bins (
            bin_id TEXT PRIMARY KEY,
            region TEXT NOT NULL,
            lat REAL,
            lon REAL,
            registered_at TEXT,
            online INTEGER NOT NULL,
            bd_seq INTEGER,
            state_reason TEXT,
            agent_version TEXT,
            config_version INTEGER,
            last_seq INTEGER NOT NULL,
            stored_seq INTEGER NOT NULL,
            last_ts TEXT,
            clock_synced INTEGER,
            last_seen TEXT,
            telemetry_seq INTEGER NOT NULL,
            fill_pct REAL,
            fill_mm REAL,
            weight_kg REAL,
            temp_c REAL,
            door TEXT,
            deposits_since_empty INTEGER,
            emptied_seq INTEGER NOT NULL,
            alarms TEXT NOT NULL,
            faults TEXT NOT NULL,
            health_seq INTEGER NOT NULL,
            config_seq INTEGER NOT NULL
        );
        """,
    ),
    (
        "003_pickups",
        """
        CREATE TABLE pickups (
            pickup_id TEXT PRIMARY KEY,
            bin_id TEXT NOT NULL,
            region TEXT NOT NULL,
            status TEXT NOT NULL,
            priority TEXT NOT NULL,
            reason TEXT NOT NULL,
            fill_pct REAL,
            predicted_full_at TEXT,
            due_by TEXT NOT NULL,
            lat REAL,
            lon REAL,
            has_location INTEGER NOT NULL,
            manifest TEXT NOT NULL,
            ts TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            trigger_seq INTEGER NOT NULL,
            closed_at TEXT,
            crossings INTEGER NOT NULL,
            below_threshold INTEGER NOT NULL,
            sent_fill_pct REAL,
            sent_priority TEXT,
            sent_manifest TEXT,
            sent_at TEXT
        );
        CREATE UNIQUE INDEX pickups_one_open_per_bin ON pickups (bin_id)
            WHERE status IN ('requested', 'scheduled', 'escalated');
        CREATE INDEX pickups_by_bin ON pickups (bin_id, requested_at);
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            topic TEXT NOT NULL,
            payload BLOB NOT NULL
        );
        CREATE TABLE rejections (
            reason TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            last_topic TEXT,
            last_detail TEXT,
            last_at TEXT
        );
        """,
    ),
    (
        "004_reading_times",
        """
        ALTER TABLE telemetry ADD COLUMN clock_synced INTEGER;
        ALTER TABLE deposits ADD COLUMN received_at TEXT;
        ALTER TABLE deposits ADD COLUMN clock_synced INTEGER;
        CREATE INDEX deposits_by_ts ON deposits (ts);
        CREATE INDEX telemetry_by_bin_ts ON telemetry (bin_id, ts);
        """,
    ),
    (
        "005_pickup_lifecycle",
        """
        ALTER TABLE pickups ADD COLUMN forecast_low TEXT;
        ALTER TABLE pickups ADD COLUMN forecast_high TEXT;
        ALTER TABLE pickups ADD COLUMN acknowledged_at TEXT;
        ALTER TABLE pickups ADD COLUMN scheduled_for TEXT;
        ALTER TABLE pickups ADD COLUMN escalated_at TEXT;
        ALTER TABLE pickups ADD COLUMN cancel_reason TEXT;
        ALTER TABLE pickups ADD COLUMN note TEXT;
        ALTER TABLE pickups ADD COLUMN drop_seq INTEGER;
        ALTER TABLE pickups ADD COLUMN drop_readings INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE pickups ADD COLUMN sent_predicted_full_at TEXT;
        CREATE INDEX pickups_by_requested ON pickups (requested_at);
        ALTER TABLE bins ADD COLUMN pickup_hold INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        "006_forecasts",
        """
        CREATE TABLE forecasts (
            bin_id TEXT PRIMARY KEY,
            computed_at TEXT NOT NULL,
            method TEXT NOT NULL,
            points INTEGER NOT NULL,
            full_pct REAL NOT NULL,
            predicted_full_at TEXT,
            low TEXT,
            high TEXT,
            rate_pct_per_h REAL,
            level_pct REAL,
            span_hours REAL NOT NULL DEFAULT 0
        );
        """,
    ),
    (
        "007_deliveries",
        """
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            endpoint TEXT NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            body BLOB NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at TEXT NOT NULL,
            state TEXT NOT NULL,
            last_error TEXT,
            last_status INTEGER,
            delivered_at TEXT
        );
        CREATE INDEX deliveries_by_state ON deliveries (state, endpoint, id);
        """,
    ),
    (
        "008_technicians",
        """
        ALTER TABLE outbox ADD COLUMN retain INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE bins ADD COLUMN offline_since TEXT;
        ALTER TABLE bins ADD COLUMN health TEXT;
        ALTER TABLE bins ADD COLUMN desired_version INTEGER;
        ALTER TABLE bins ADD COLUMN desired_at TEXT;
        ALTER TABLE bins ADD COLUMN reported_version INTEGER;
        ALTER TABLE bins ADD COLUMN reported_status TEXT;
        ALTER TABLE bins ADD COLUMN reported_error TEXT;
        ALTER TABLE bins ADD COLUMN reported_at TEXT;
        CREATE TABLE tickets (
            ticket_id TEXT PRIMARY KEY,
            bin_id TEXT NOT NULL,
            region TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            status TEXT NOT NULL,
            detail TEXT NOT NULL,
            causes TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            ts TEXT NOT NULL,
            resolved_at TEXT
        );
        CREATE UNIQUE INDEX tickets_one_open_per_bin_and_kind ON tickets (bin_id, kind)
            WHERE status = 'open';
        CREATE INDEX tickets_by_opened ON tickets (opened_at);
        CREATE TABLE commands (
            command_id TEXT PRIMARY KEY,
            bin_id TEXT NOT NULL,
            name TEXT NOT NULL,
            args TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            actor TEXT NOT NULL,
            status TEXT NOT NULL,
            result TEXT,
            error TEXT,
            answered_at TEXT,
            timed_out_at TEXT
        );
        CREATE INDEX commands_by_bin ON commands (bin_id, issued_at);
        CREATE INDEX commands_pending ON commands (status) WHERE status = 'pending';
        CREATE TABLE config_desired (
            bin_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            config TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            actor TEXT NOT NULL,
            PRIMARY KEY (bin_id, version)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "009_pickup_revision",
        """
        ALTER TABLE pickups ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        "010_reading_time_indexes",
        f"""
        CREATE INDEX telemetry_by_bin_at ON telemetry (bin_id, {_AT});
        CREATE INDEX deposits_by_at ON deposits ({_AT});
        """,
    ),
    (
        "011_seq_resets",
        """
        CREATE TABLE seq_resets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            bin_id TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            actor TEXT NOT NULL,
            applied_at TEXT,
            seq_offset INTEGER
        );
        CREATE INDEX seq_resets_pending ON seq_resets (id) WHERE applied_at IS NULL;
        """,
    ),
)

_BIN_COLUMNS = (
    "bin_id, region, lat, lon, registered_at, online, bd_seq, state_reason, agent_version, "
    "config_version, last_seq, stored_seq, last_ts, clock_synced, last_seen, telemetry_seq, "
    "fill_pct, fill_mm, weight_kg, temp_c, door, deposits_since_empty, emptied_seq, alarms, "
    "faults, health_seq, config_seq, pickup_hold, offline_since, health, desired_version, "
    "desired_at, reported_version, reported_status, reported_error, reported_at"
)
_BIN_WIDTH = 36
_PICKUP_COLUMNS = (
    "pickup_id, bin_id, region, status, priority, reason, fill_pct, predicted_full_at, due_by, "
    "lat, lon, has_location, manifest, ts, requested_at, trigger_seq, closed_at, crossings, "
    "below_threshold, sent_fill_pct, sent_priority, sent_manifest, sent_at, forecast_low, "
    "forecast_high, acknowledged_at, scheduled_for, escalated_at, cancel_reason, note, drop_seq, "
    "drop_readings, sent_predicted_full_at, revision"
)
_PICKUP_WIDTH = 34


_PICKUP_UPSERT = (
    f"INSERT INTO pickups ({_PICKUP_COLUMNS}) VALUES ({', '.join('?' * _PICKUP_WIDTH)}) "
    "ON CONFLICT (pickup_id) DO UPDATE SET "
    + ", ".join(
        f"{column} = excluded.{column}"
        for column in (c.strip() for c in _PICKUP_COLUMNS.split(","))
        if column != "pickup_id"
    )
)


def _flags_json(flags: dict[str, Flag]) -> str:
    return json.dumps({key: [flag.active, flag.seq, flag.detail] for key, flag in flags.items()})


def _flags(text: str) -> dict[str, Flag]:
    """Flags as ``[active, seq]`` (before 008) or ``[active, seq, detail]``."""
    return {
        key: Flag(bool(value[0]), int(value[1]), value[2] if len(value) > 2 else None)
        for key, value in json.loads(text).items()
    }


def _health_json(health: HealthSnapshot | None) -> str | None:
    return None if health is None else json.dumps(health.as_json())


def _health(text: str | None) -> HealthSnapshot | None:
    return None if text is None else HealthSnapshot.from_json(json.loads(text))


def _manifest_json(manifest: dict[str, ManifestEntry] | None) -> str | None:
    if manifest is None:
        return None
    return json.dumps({key: [entry.count, entry.kg] for key, entry in manifest.items()})


def _manifest(text: str | None) -> dict[str, ManifestEntry] | None:
    if text is None:
        return None
    return {
        key: ManifestEntry(count=int(count), kg=float(kg))
        for key, (count, kg) in json.loads(text).items()
    }


_FORECAST_COLUMNS = (
    "bin_id, computed_at, method, points, full_pct, predicted_full_at, low, high, "
    "rate_pct_per_h, level_pct, span_hours"
)


def _forecast(row: Any) -> Forecast:
    _, computed, method, points, full, at, lo, hi, rate, level, span = row
    return Forecast(
        predicted_full_at=_dt(at),
        low=_dt(lo),
        high=_dt(hi),
        rate_pct_per_h=rate,
        level_pct=level,
        method=method,
        points=points,
        computed_at=parse_ts(computed),
        full_pct=full,
        span_hours=span,
    )


class SQLiteStore(DeliveryQueueMixin, TechnicianTablesMixin):
    """The bridge's store in one SQLite file (or in memory, for tests).

    One connection, used by one thread at a time: the bridge's writer thread. Open
    with ``readonly=True`` to inspect a database another process is writing.
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
                self._migrate()
            else:
                self._check_schema()
        except sqlite3.Error as err:
            raise StoreError(f"{self.path}: cannot open the bridge database: {err}") from None
        self._in_transaction = False
        self._last_received: datetime | None = None
        self._ts_memo: dict[int, str] = {}
        self._multi_sql: dict[tuple[str, int], str] = {}
        self._max_variables = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._last_received_text = ""

    # -- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        )
        done = {row[0] for row in self._db.execute("SELECT name FROM schema_migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            logger.info("applying migration %s to %s", name, self.path)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _check_schema(self) -> None:
        try:
            done = {row[0] for row in self._db.execute("SELECT name FROM schema_migrations")}
        except sqlite3.DatabaseError:
            raise StoreError(f"{self.path}: not a bridge database") from None
        missing = [name for name, _ in MIGRATIONS if name not in done]
        if missing:
            raise StoreError(f"{self.path}: database lacks migrations {', '.join(missing)}")

    def migrations(self) -> list[str]:
        """Names of the applied migrations, in order."""
        return [row[0] for row in self._db.execute("SELECT name FROM schema_migrations")]

    # -- transactions -------------------------------------------------------------------

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

    # -- writes -------------------------------------------------------------------------

    def add_message(self, message: StoredMessage) -> bool:
        """``INSERT OR IGNORE`` on the primary key ``(bin_id, seq)``."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?)", self._message_row(message)
        )
        return cursor.rowcount == 1

    def add_messages(self, messages: Sequence[StoredMessage]) -> None:
        """Multi-row ``INSERT OR IGNORE`` statements."""
        self._insert_rows(
            "INSERT OR IGNORE INTO messages VALUES ",
            6,
            [self._message_row(message) for message in messages],
        )

    def _insert_rows(self, head: str, width: int, rows: Sequence[tuple[object, ...]]) -> None:
        """Insert ``rows`` with few multi-row statements instead of ``executemany``.

        ``executemany`` steps once per row and releases the GIL at every step; with the
        MQTT thread busy, each step then waits to get it back. A statement of many rows
        steps once. Chunks have power-of-two sizes so the prepared statements are reused.
        """
        most = 1 << (min(self._max_variables // width, 512).bit_length() - 1)
        start = 0
        while start < len(rows):
            size = most
            while size > len(rows) - start:
                size >>= 1
            sql = self._multi_sql.get((head, size))
            if sql is None:
                row = "(" + ", ".join("?" * width) + ")"
                sql = self._multi_sql[(head, size)] = head + ", ".join([row] * size)
            self._db.execute(sql, [value for r in rows[start : start + size] for value in r])
            start += size

    def _message_row(self, m: StoredMessage) -> tuple[object, ...]:
        return (
            m.bin_id,
            m.seq,
            m.kind,
            self._bin_ts(m.ts),
            self._received(m.received_at),
            m.payload,
        )

    def _bin_ts(self, value: datetime) -> str:
        """Format a message's own timestamp once, though two tables store it."""
        key = id(value)
        text = self._ts_memo.get(key)
        if text is None:
            text = self._ts_memo[key] = _fmt(value)
        return text

    def _received(self, value: datetime) -> str:
        """Format a batch's reception time once (every message of a batch shares it)."""
        if value is not self._last_received:
            self._last_received = value
            self._last_received_text = _fmt(value)
        return self._last_received_text

    def add_telemetry(self, rows: Sequence[tuple[Telemetry, datetime]]) -> None:
        """Multi-row inserts for the whole batch."""
        self._insert_rows(
            "INSERT OR IGNORE INTO telemetry VALUES ",
            11,
            [
                (
                    t.bin_id,
                    t.seq,
                    self._bin_ts(t.ts),
                    self._received(received_at),
                    t.fill_pct,
                    t.fill_mm,
                    t.weight_kg,
                    t.temp_c,
                    t.door,
                    t.deposits_since_empty,
                    int(t.clock_synced),
                )
                for t, received_at in rows
            ],
        )

    def add_deposit(self, event: DepositEvent, received_at: datetime | None = None) -> None:
        """A typed row per deposit, for manifests."""
        self._db.execute(
            "INSERT OR IGNORE INTO deposits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.bin_id,
                event.seq,
                event.deposit_id,
                format_ts(event.ts),
                event.category,
                event.confidence,
                int(event.accepted),
                event.reason,
                event.weight_g,
                event.model,
                _ts(received_at),
                int(event.clock_synced),
            ),
        )

    def log_state(self, state: State, received_at: datetime, applied: bool) -> None:
        """Births and deaths, once each per ``bd_seq``."""
        self._db.execute(
            "INSERT OR IGNORE INTO state_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                state.bin_id,
                state.bd_seq,
                int(state.online),
                state.seq,
                state.reason,
                format_ts(state.ts),
                format_ts(received_at),
                int(applied),
            ),
        )

    def save_bins(self, bins: Iterable[BinRecord]) -> None:
        """``INSERT OR REPLACE`` of whole records."""
        self._db.executemany(
            f"INSERT OR REPLACE INTO bins ({_BIN_COLUMNS}) VALUES ({', '.join('?' * _BIN_WIDTH)})",
            [
                (
                    b.bin_id,
                    b.region,
                    b.location.lat if b.location else None,
                    b.location.lon if b.location else None,
                    _ts(b.registered_at),
                    int(b.online),
                    b.bd_seq,
                    b.state_reason,
                    b.agent_version,
                    b.config_version,
                    b.last_seq,
                    b.stored_seq,
                    _ts(b.last_ts),
                    None if b.clock_synced is None else int(b.clock_synced),
                    _ts(b.last_seen),
                    b.telemetry_seq,
                    b.fill_pct,
                    b.fill_mm,
                    b.weight_kg,
                    b.temp_c,
                    b.door,
                    b.deposits_since_empty,
                    b.emptied_seq,
                    _flags_json(b.alarms),
                    _flags_json(b.faults),
                    b.health_seq,
                    b.config_seq,
                    int(b.pickup_hold),
                    _ts(b.offline_since),
                    _health_json(b.health),
                    b.desired_version,
                    _ts(b.desired_at),
                    b.reported_version,
                    b.reported_status,
                    b.reported_error,
                    _ts(b.reported_at),
                )
                for b in bins
            ],
        )

    def save_pickup(self, pickup: PickupRecord) -> None:
        """Insert or update by ``pickup_id``; a second open pickup of a bin is an error.

        An upsert rather than ``INSERT OR REPLACE``, which would silently delete the
        other open pickup that the one-open-per-bin index conflicts with.
        """
        p = pickup
        self._db.execute(
            _PICKUP_UPSERT,
            (
                p.pickup_id,
                p.bin_id,
                p.region,
                p.status,
                p.priority,
                p.reason,
                p.fill_pct,
                _ts(p.predicted_full_at),
                format_ts(p.due_by),
                p.location.lat if p.location else None,
                p.location.lon if p.location else None,
                int(p.location is not None),
                _manifest_json(p.manifest),
                format_ts(p.ts),
                format_ts(p.requested_at),
                p.trigger_seq,
                _ts(p.closed_at),
                p.crossings,
                int(p.below_threshold),
                p.sent_fill_pct,
                p.sent_priority,
                _manifest_json(p.sent_manifest),
                _ts(p.sent_at),
                _ts(p.forecast_low),
                _ts(p.forecast_high),
                _ts(p.acknowledged_at),
                _ts(p.scheduled_for),
                _ts(p.escalated_at),
                p.cancel_reason,
                p.note,
                p.drop_seq,
                p.drop_readings,
                _ts(p.sent_predicted_full_at),
                p.revision,
            ),
        )

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

    def count_rejections(
        self, reason: str, count: int, topic: str, detail: str, at: datetime
    ) -> None:
        """Upsert the counter row of ``reason``."""
        self._db.execute(
            "INSERT INTO rejections VALUES (?, ?, ?, ?, ?) ON CONFLICT (reason) DO UPDATE SET "
            "count = count + excluded.count, last_topic = excluded.last_topic, "
            "last_detail = excluded.last_detail, last_at = excluded.last_at",
            (reason, count, topic, detail, format_ts(at)),
        )

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

    # -- reads --------------------------------------------------------------------------

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

    def message_payload(self, bin_id: str, seq: int) -> str | None:
        """The payload stored under ``(bin_id, seq)``, if any."""
        row = self._db.execute(
            "SELECT payload FROM messages WHERE bin_id = ? AND seq = ?", (bin_id, seq)
        ).fetchone()
        return None if row is None else str(row[0])

    def load_bins(self) -> list[BinRecord]:
        """Every bin record, ordered by id."""
        rows = self._db.execute(f"SELECT {_BIN_COLUMNS} FROM bins ORDER BY bin_id")
        return [self._bin(row) for row in rows]

    def get_bin(self, bin_id: str) -> BinRecord | None:
        """One row of ``bins``."""
        row = self._db.execute(
            f"SELECT {_BIN_COLUMNS} FROM bins WHERE bin_id = ?", (bin_id,)
        ).fetchone()
        return None if row is None else self._bin(row)

    @staticmethod
    def _bin(row: Any) -> BinRecord:
        (
            bin_id, region, lat, lon, registered_at, online, bd_seq, state_reason,
            agent_version, config_version, last_seq, stored_seq, last_ts, clock_synced, last_seen,
            telemetry_seq, fill_pct, fill_mm, weight_kg, temp_c, door, deposits_since_empty,
            emptied_seq, alarms, faults, health_seq, config_seq, pickup_hold, offline_since,
            health, desired_version, desired_at, reported_version, reported_status,
            reported_error, reported_at,
        ) = row  # fmt: skip
        location = None if lat is None and lon is None else Location(lat=lat, lon=lon)
        return BinRecord(
            bin_id=bin_id,
            region=region,
            location=location,
            registered_at=_dt(registered_at),
            online=bool(online),
            bd_seq=bd_seq,
            state_reason=state_reason,
            agent_version=agent_version,
            config_version=config_version,
            last_seq=last_seq,
            stored_seq=stored_seq,
            last_ts=_dt(last_ts),
            clock_synced=None if clock_synced is None else bool(clock_synced),
            last_seen=_dt(last_seen),
            telemetry_seq=telemetry_seq,
            fill_pct=fill_pct,
            fill_mm=fill_mm,
            weight_kg=weight_kg,
            temp_c=temp_c,
            door=door,
            deposits_since_empty=deposits_since_empty,
            emptied_seq=emptied_seq,
            alarms=_flags(alarms),
            faults=_flags(faults),
            health_seq=health_seq,
            config_seq=config_seq,
            pickup_hold=bool(pickup_hold),
            offline_since=_dt(offline_since),
            health=_health(health),
            desired_version=desired_version,
            desired_at=_dt(desired_at),
            reported_version=reported_version,
            reported_status=reported_status,
            reported_error=reported_error,
            reported_at=_dt(reported_at),
        )

    def list_pickups(
        self,
        *,
        open_only: bool = False,
        status: str | None = None,
        region: str | None = None,
        bin_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[PickupRecord]:
        """Pickups in request order, filtered by what is given."""
        where: list[str] = []
        args: list[object] = []
        if open_only:
            where.append("status IN (" + ", ".join("?" * len(OPEN_STATUSES)) + ")")
            args.extend(sorted(OPEN_STATUSES))
        for column, value in (("status", status), ("region", region), ("bin_id", bin_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            where.append("requested_at >= ?")
            args.append(_fmt(since))
        if until is not None:
            where.append("requested_at < ?")
            args.append(_fmt(until))
        sql = f"SELECT {_PICKUP_COLUMNS} FROM pickups"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY requested_at, pickup_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [self._pickup(row) for row in self._db.execute(sql, args)]

    def get_pickup(self, pickup_id: str) -> PickupRecord | None:
        """One pickup by its id."""
        row = self._db.execute(
            f"SELECT {_PICKUP_COLUMNS} FROM pickups WHERE pickup_id = ?", (pickup_id,)
        ).fetchone()
        return None if row is None else self._pickup(row)

    @staticmethod
    def _pickup(row: Any) -> PickupRecord:
        (
            pickup_id, bin_id, region, status, priority, reason, fill_pct, predicted_full_at,
            due_by, lat, lon, has_location, manifest, ts, requested_at, trigger_seq, closed_at,
            crossings, below_threshold, sent_fill_pct, sent_priority, sent_manifest, sent_at,
            forecast_low, forecast_high, acknowledged_at, scheduled_for, escalated_at,
            cancel_reason, note, drop_seq, drop_readings, sent_predicted_full_at, revision,
        ) = row  # fmt: skip
        return PickupRecord(
            pickup_id=pickup_id,
            bin_id=bin_id,
            region=region,
            status=status,
            priority=priority,
            reason=reason,
            fill_pct=fill_pct,
            predicted_full_at=_dt(predicted_full_at),
            due_by=parse_ts(due_by),
            location=Location(lat=lat, lon=lon) if has_location else None,
            manifest=_manifest(manifest) or {},
            ts=parse_ts(ts),
            requested_at=parse_ts(requested_at),
            trigger_seq=trigger_seq,
            closed_at=_dt(closed_at),
            crossings=crossings,
            below_threshold=bool(below_threshold),
            sent_fill_pct=sent_fill_pct,
            sent_priority=sent_priority,
            sent_manifest=_manifest(sent_manifest),
            sent_at=_dt(sent_at),
            forecast_low=_dt(forecast_low),
            forecast_high=_dt(forecast_high),
            acknowledged_at=_dt(acknowledged_at),
            scheduled_for=_dt(scheduled_for),
            escalated_at=_dt(escalated_at),
            cancel_reason=cancel_reason,
            note=note,
            drop_seq=drop_seq,
            drop_readings=drop_readings,
            sent_predicted_full_at=_dt(sent_predicted_full_at),
            revision=revision,
        )

    def manifest(
        self, bin_id: str, after_seq: int, before_seq: int | None = None
    ) -> dict[str, ManifestEntry]:
        """Aggregated from the ``deposits`` table."""
        upper = "" if before_seq is None else f"AND seq < {int(before_seq)}"
        rows = self._db.execute(
            "SELECT category, COUNT(*), SUM(weight_g) FROM deposits "
            f"WHERE bin_id = ? AND seq > ? {upper} AND accepted = 1 "
            "GROUP BY category ORDER BY category",
            (bin_id, after_seq),
        )
        return {
            category: ManifestEntry(count=count, kg=round((grams or 0.0) / 1000.0, 3))
            for category, count, grams in rows
        }

    def pending_publications(self) -> list[Publication]:
        """The outbox, oldest first."""
        rows = self._db.execute("SELECT id, topic, payload, retain FROM outbox ORDER BY id")
        return [Publication(id=i, topic=t, payload=bytes(p), retain=bool(r)) for i, t, p, r in rows]

    def rejection_counts(self) -> list[RejectionCount]:
        """One row per reason."""
        rows = self._db.execute(
            "SELECT reason, count, last_topic, last_detail, last_at FROM rejections ORDER BY reason"
        )
        return [
            RejectionCount(reason=r, count=c, last_topic=t, last_detail=d, last_at=_dt(a))
            for r, c, t, d, a in rows
        ]

    def message_counts(self) -> dict[str, int]:
        """``COUNT(*)`` of ``messages`` grouped by kind."""
        rows = self._db.execute("SELECT kind, COUNT(*) FROM messages GROUP BY kind ORDER BY kind")
        return {kind: int(count) for kind, count in rows}

    def fill_history(
        self,
        bin_id: str,
        *,
        after_seq: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[FillPoint]:
        """From the ``telemetry`` table (the newest ``limit`` rows, in ``seq`` order);
        ``since`` and ``until`` bound :attr:`FillPoint.at` (bin time when synced)."""
        where = ["bin_id = ?", "seq > ?"]
        args: list[object] = [bin_id, after_seq]
        if since is not None:
            where.append(f"{_AT} >= ?")
            args.append(_fmt(since))
        if until is not None:
            where.append(f"{_AT} < ?")
            args.append(_fmt(until))
        sql = (
            "SELECT seq, ts, fill_pct, weight_kg, received_at, clock_synced, door FROM telemetry "
            f"WHERE {' AND '.join(where)} ORDER BY seq DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        points = [
            FillPoint(
                seq=q,
                ts=parse_ts(t),
                fill_pct=f,
                weight_kg=w,
                received_at=_dt(r),
                clock_synced=None if c is None else bool(c),
                door=d,
            )
            for q, t, f, w, r, c, d in self._db.execute(sql, args)
        ]
        points.reverse()
        return points

    def deposit_times(self, bin_id: str, since: datetime) -> list[datetime]:
        """Accepted deposits' bin times (reception time when the bin's clock was unsynced)."""
        rows = self._db.execute(
            "SELECT ts, received_at, clock_synced FROM deposits "
            f"WHERE bin_id = ? AND accepted = 1 AND {_AT} >= ? ORDER BY seq",
            (bin_id, _fmt(since)),
        )
        return [
            parse_ts(received if synced == 0 and received is not None else ts)
            for ts, received, synced in rows
        ]

    def list_deposits(
        self,
        *,
        bin_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        category: str | None = None,
        accepted: bool | None = None,
        limit: int | None = None,
    ) -> list[DepositRow]:
        """From the ``deposits`` table, by bin time (reception time when unsynced)."""
        where: list[str] = []
        args: list[object] = []
        for column, value in (("bin_id", bin_id), ("category", category)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if accepted is not None:
            where.append("accepted = ?")
            args.append(int(accepted))
        if since is not None:
            where.append(f"{_AT} >= ?")
            args.append(_fmt(since))
        if until is not None:
            where.append(f"{_AT} < ?")
            args.append(_fmt(until))
        sql = (
            "SELECT bin_id, seq, deposit_id, ts, received_at, clock_synced, category, confidence, "
            "accepted, reason, weight_g, model FROM deposits"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_AT}, bin_id, seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [
            DepositRow(
                bin_id=b,
                seq=q,
                deposit_id=d,
                ts=parse_ts(t),
                received_at=_dt(r),
                clock_synced=None if c is None else bool(c),
                category=cat,
                confidence=conf,
                accepted=bool(acc),
                reason=reason,
                weight_g=w,
                model=m,
            )
            for b, q, d, t, r, c, cat, conf, acc, reason, w, m in self._db.execute(sql, args)
        ]

    def save_forecast(self, bin_id: str, forecast: Forecast) -> None:
        """Replace the bin's row in ``forecasts``."""
        f = forecast
        self._db.execute(
            "INSERT OR REPLACE INTO forecasts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                bin_id,
                _fmt(f.computed_at),
                f.method,
                f.points,
                f.full_pct,
                _ts(f.predicted_full_at),
                _ts(f.low),
                _ts(f.high),
                f.rate_pct_per_h,
                f.level_pct,
                f.span_hours,
            ),
        )

    def load_forecasts(self) -> dict[str, Forecast]:
        """Every row of ``forecasts``."""
        rows = self._db.execute(f"SELECT {_FORECAST_COLUMNS} FROM forecasts ORDER BY bin_id")
        return {row[0]: _forecast(row) for row in rows}

    def get_forecast(self, bin_id: str) -> Forecast | None:
        """One row of ``forecasts``."""
        row = self._db.execute(
            f"SELECT {_FORECAST_COLUMNS} FROM forecasts WHERE bin_id = ?", (bin_id,)
        ).fetchone()
        return None if row is None else _forecast(row)

    def stored_messages(self, bin_id: str) -> Iterator[StoredMessage]:
        """From the ``messages`` table."""
        rows = self._db.execute(
            "SELECT bin_id, seq, kind, ts, received_at, payload FROM messages "
            "WHERE bin_id = ? ORDER BY seq",
            (bin_id,),
        )
        for b, s, k, t, r, p in rows:
            yield StoredMessage(
                bin_id=b, seq=s, kind=k, ts=parse_ts(t), received_at=parse_ts(r), payload=p
            )
