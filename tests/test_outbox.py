"""The durable outbox: seq persistence, bounds that spare events, acknowledgement."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.clock import ManualClock
from agent.errors import AgentError
from agent.errors import StorageError as OutboxError
from agent.ops.instance_lock import InstanceLock
from agent.storage.localdb import LocalDb
from agent.storage.outbox import Outbox, counter_origin
from tests.support.bins import bin_config, make_bin


def payload(text: str, size: int = 10) -> Callable[[int], bytes]:
    return lambda seq: f"{text}:{seq}:".encode().ljust(size, b".")


def open_outbox(path: Path, clock: ManualClock, **bounds: int) -> Outbox:
    return Outbox(
        LocalDb(path),
        clock,
        max_rows=bounds.get("max_rows", 1000),
        max_bytes=bounds.get("max_bytes", 1_000_000),
    )


def test_seq_is_persisted_across_reopen(tmp_path: Path) -> None:
    clock = ManualClock()
    outbox = open_outbox(tmp_path / "a.db", clock)
    base = outbox.last_seq
    seqs = [outbox.append("t", payload("x"), droppable=False) for _ in range(3)]
    assert seqs == [base + 1, base + 2, base + 3]
    outbox.acknowledge([base + 1, base + 2, base + 3])
    outbox.db.close()
    clock.advance(3600)  # a later start does not move the counter: it is stored
    reopened = open_outbox(tmp_path / "a.db", clock)
    assert reopened.stats().depth == 0
    assert reopened.append("t", payload("y"), droppable=True) == base + 4


def test_a_fresh_database_counts_on_from_the_clock(tmp_path: Path) -> None:
    # The SD card was replaced: the bridge already holds this bin's seq 1, 2, ... and
    # stores idempotently on (bin_id, seq), so the new database must not count from 1.
    clock = ManualClock(start=datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    outbox = open_outbox(tmp_path / "a.db", clock)
    origin = int(datetime(2026, 11, 23, 6, 0, tzinfo=UTC).timestamp() * 1000)
    assert counter_origin(clock) == origin
    assert outbox.last_seq == origin
    assert outbox.append("t", payload("x"), droppable=False) == origin + 1
    outbox.db.close()
    wiped = open_outbox(tmp_path / "b.db", ManualClock(start=clock.now() + timedelta(hours=1)))
    first = wiped.append("t", payload("x"), droppable=False)
    assert first is not None
    assert first == origin + 3_600_000 + 1


def test_a_fresh_database_on_an_unsynchronised_clock_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agent.storage.outbox")
    outbox = open_outbox(tmp_path / "a.db", ManualClock(synced=False))
    assert outbox.last_seq == counter_origin(outbox.clock)
    assert "not synchronised" in caplog.text


def test_pending_is_in_seq_order_and_ack_deletes(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock())
    b = outbox.last_seq
    for i in range(5):
        outbox.append(f"t/{i}", payload("m"), droppable=i % 2 == 0)
    rows = outbox.pending(0, 10)
    assert [r.seq - b for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].payload.startswith(f"m:{b + 1}:".encode())
    assert [r.seq - b for r in outbox.pending(b + 3, 10)] == [4, 5]
    assert outbox.acknowledge([b + 2, b + 4, b + 99]) == 2
    assert [r.seq - b for r in outbox.pending(0, 10)] == [1, 3, 5]


def test_row_bound_drops_oldest_telemetry_never_events(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=4)
    b = outbox.last_seq
    outbox.append("events/alarm", payload("e"), droppable=False)
    for _ in range(3):
        outbox.append("telemetry", payload("t"), droppable=True)
    outbox.append("events/alarm", payload("e"), droppable=False)
    remaining = [r.seq - b for r in outbox.pending(0, 10)]
    assert remaining == [1, 3, 4, 5]  # seq 2, the oldest telemetry, went first
    assert outbox.stats().dropped == 1


def test_full_of_events_refuses_telemetry_but_keeps_events(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=100, max_bytes=64 * 1024)
    b = outbox.last_seq
    big = 16 * 1024
    for _ in range(4):
        assert outbox.append("events/deposit", payload("e", big), droppable=False)
    assert outbox.append("telemetry", payload("t", big), droppable=True) is None
    stats = outbox.stats()
    assert stats.over_limit
    assert stats.dropped == 1
    # An event still goes in, beyond the bound.
    assert outbox.append("events/deposit", payload("e", big), droppable=False) == b + 5
    assert stats.depth == 4
    assert outbox.stats().depth == 5
    outbox.acknowledge([b + 1, b + 2, b + 3, b + 4, b + 5])
    assert not outbox.stats().over_limit


def test_byte_bound_counts_payload_sizes(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=100, max_bytes=64 * 1024)
    b = outbox.last_seq
    for _ in range(8):
        outbox.append("telemetry", payload("t", 10 * 1024), droppable=True)
    stats = outbox.stats()
    assert stats.bytes <= 64 * 1024
    assert stats.depth == 6
    assert stats.dropped == 2
    assert [r.seq - b for r in outbox.pending(0, 10)] == [3, 4, 5, 6, 7, 8]


def test_oldest_age_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    outbox = open_outbox(tmp_path / "a.db", clock)
    outbox.append("events/alarm", payload("e"), droppable=False)
    clock.advance(120)
    assert outbox.stats().oldest_age_s == pytest.approx(120)
    outbox.db.close()
    # A new process: its monotonic clock starts again at zero, the wall clock moved on.
    later = ManualClock(start=clock.now() + timedelta(seconds=30))
    reopened = open_outbox(tmp_path / "a.db", later)
    assert reopened.stats().oldest_age_s == pytest.approx(150, abs=0.01)


def test_a_failed_insert_leaves_the_counters_true(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=2)
    outbox.append("telemetry", payload("t"), droppable=True)
    outbox.append("telemetry", payload("t"), droppable=True)
    before = outbox.stats()
    # Room is made (the oldest telemetry deleted) before the insert fails: the
    # transaction rolls back, and the counters must not keep the deletion.
    with pytest.raises(TypeError):
        outbox.append("events/alarm", payload("e"), droppable=False, meta={"bad": object()})
    after = outbox.stats()
    assert [r.seq - outbox.last_seq for r in outbox.pending(0, 10)] == [-1, 0]
    assert (after.depth, after.bytes, after.dropped, after.last_seq) == (
        before.depth,
        before.bytes,
        before.dropped,
        before.last_seq,
    )
    outbox.db.close()
    reopened = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=2)
    assert (reopened.stats().depth, reopened.stats().bytes) == (after.depth, after.bytes)


def test_unusable_storage_is_the_agents_error_naming_storage_path(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "card"
    not_a_directory.write_text("a file where the storage directory should be")
    config = bin_config(tmp_path)
    config.storage.path = not_a_directory / "agent.db"
    with pytest.raises(AgentError, match=r"^storage\.path: cannot lock .*card/agent\.db\.lock: "):
        make_bin(config, port=1)
    with pytest.raises(AgentError, match=r"^storage\.path: "):
        InstanceLock(not_a_directory / "agent.db")


def test_a_full_disk_is_reported_as_such(tmp_path: Path) -> None:
    db = LocalDb(tmp_path / "agent.db")
    db.put_many({"seed": "x"})
    pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
    db.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # the disk fills up
    # Many rows: SQLite rolls the whole transaction back itself on SQLITE_FULL.
    with pytest.raises(OutboxError, match="database or disk is full"):
        db.put_many({f"k{n}": "y" * 5000 for n in range(50)})
    assert not db.conn.in_transaction
    assert db.get("k0") is None
    db.conn.execute(f"PRAGMA max_page_count = {pages * 1000}")  # room again
    db.put_many({"big": "y"})
    assert db.get("big") == "y"
    db.close()
