"""The SQLite store's schema: small named migrations, applied in order, each in its own
transaction and recorded in ``schema_migrations``.

Append a migration to change the schema; never edit one that has shipped, since
databases in the field have applied it already. A reader refuses a file that lacks
one (it was written by an older bridge, or is not a bridge database).
"""

from __future__ import annotations

import logging
import sqlite3

from cloud_bridge.errors import StoreError

logger = logging.getLogger(__name__)

READING_AT = "(CASE WHEN clock_synced = 0 AND received_at IS NOT NULL THEN received_at ELSE ts END)"
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
        CREATE INDEX telemetry_by_bin_at ON telemetry (bin_id, {READING_AT});
        CREATE INDEX deposits_by_at ON deposits ({READING_AT});
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
    (
        "012_facility_intakes",
        """
        CREATE TABLE pickup_spans (
            pickup_id TEXT PRIMARY KEY,
            bin_id TEXT NOT NULL,
            after_seq INTEGER NOT NULL,
            before_seq INTEGER NOT NULL
        );
        CREATE INDEX pickup_spans_by_bin ON pickup_spans (bin_id, before_seq);
        CREATE TABLE intakes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            intake_id TEXT NOT NULL UNIQUE,
            facility_id TEXT NOT NULL,
            received_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            actor TEXT NOT NULL,
            note TEXT,
            distance_km REAL,
            distance_estimated INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX intakes_by_received ON intakes (received_at, seq);
        CREATE TABLE intake_pickups (
            intake_id TEXT NOT NULL,
            pickup_id TEXT NOT NULL,
            bin_id TEXT NOT NULL,
            region TEXT NOT NULL,
            share REAL NOT NULL,
            declared TEXT NOT NULL,
            PRIMARY KEY (intake_id, pickup_id)
        );
        CREATE INDEX intake_pickups_by_pickup ON intake_pickups (pickup_id);
        CREATE INDEX intake_pickups_by_bin ON intake_pickups (bin_id);
        CREATE TABLE intake_lines (
            intake_id TEXT NOT NULL,
            category TEXT NOT NULL,
            kg REAL NOT NULL,
            item_count INTEGER,
            contaminated_kg REAL NOT NULL,
            PRIMARY KEY (intake_id, category)
        );
        CREATE TABLE dispositions (
            disposition_id INTEGER PRIMARY KEY AUTOINCREMENT,
            intake_id TEXT NOT NULL,
            facility_id TEXT NOT NULL,
            category TEXT NOT NULL,
            disposition TEXT NOT NULL,
            kg REAL NOT NULL,
            item_count INTEGER,
            grade TEXT,
            note TEXT,
            value REAL NOT NULL,
            decided_at TEXT NOT NULL,
            actor TEXT NOT NULL
        );
        CREATE INDEX dispositions_by_intake ON dispositions (intake_id, category);
        CREATE TABLE inventory_movements (
            movement_id INTEGER PRIMARY KEY AUTOINCREMENT,
            facility_id TEXT NOT NULL,
            category TEXT NOT NULL,
            kg REAL NOT NULL,
            item_count INTEGER,
            reason TEXT NOT NULL,
            intake_id TEXT,
            disposition_id INTEGER,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            note TEXT
        );
        CREATE INDEX inventory_by_facility ON inventory_movements (facility_id, category);
        """,
    ),
)


def apply_migrations(db: sqlite3.Connection, path: str) -> None:
    """Apply the migrations ``db`` lacks, in order, each in its own transaction.

    A migration that fails is rolled back whole and stops the rest: the next start
    tries it again rather than running later ones on a schema they do not expect.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    done = {row[0] for row in db.execute("SELECT name FROM schema_migrations")}
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        logger.info("applying migration %s to %s", name, path)
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in sql.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def check_migrations(db: sqlite3.Connection, path: str) -> None:
    """Refuse, for a reader that may not migrate, a file that lacks any migration."""
    try:
        done = {row[0] for row in db.execute("SELECT name FROM schema_migrations")}
    except sqlite3.DatabaseError:
        raise StoreError(f"{path}: not a bridge database") from None
    missing = [name for name, _ in MIGRATIONS if name not in done]
    if missing:
        raise StoreError(f"{path}: database lacks migrations {', '.join(missing)}")
