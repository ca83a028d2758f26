"""The durable outbox: seq persistence, bounds that spare events, acknowledgement."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from agent.clock import ManualClock
from agent.localdb import LocalDb
from agent.outbox import Outbox


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
    seqs = [outbox.append("t", payload("x"), droppable=False) for _ in range(3)]
    assert seqs == [1, 2, 3]
    outbox.acknowledge([1, 2, 3])
    outbox.db.close()
    reopened = open_outbox(tmp_path / "a.db", clock)
    assert reopened.stats().depth == 0
    assert reopened.append("t", payload("y"), droppable=True) == 4


def test_pending_is_in_seq_order_and_ack_deletes(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock())
    for i in range(5):
        outbox.append(f"t/{i}", payload("m"), droppable=i % 2 == 0)
    rows = outbox.pending(0, 10)
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].payload.startswith(b"m:1:")
    assert [r.seq for r in outbox.pending(3, 10)] == [4, 5]
    assert outbox.acknowledge([2, 4, 99]) == 2
    assert [r.seq for r in outbox.pending(0, 10)] == [1, 3, 5]


def test_row_bound_drops_oldest_telemetry_never_events(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=4)
    outbox.append("events/alarm", payload("e"), droppable=False)
    for _ in range(3):
        outbox.append("telemetry", payload("t"), droppable=True)
    outbox.append("events/alarm", payload("e"), droppable=False)
    remaining = [r.seq for r in outbox.pending(0, 10)]
    assert remaining == [1, 3, 4, 5]  # seq 2, the oldest telemetry, went first
    assert outbox.stats().dropped == 1


def test_full_of_events_refuses_telemetry_but_keeps_events(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=100, max_bytes=64 * 1024)
    big = 16 * 1024
    for _ in range(4):
        assert outbox.append("events/deposit", payload("e", big), droppable=False)
    assert outbox.append("telemetry", payload("t", big), droppable=True) is None
    stats = outbox.stats()
    assert stats.over_limit
    assert stats.dropped == 1
    # An event still goes in, beyond the bound.
    assert outbox.append("events/deposit", payload("e", big), droppable=False) == 5
    assert stats.depth == 4
    assert outbox.stats().depth == 5
    outbox.acknowledge([1, 2, 3, 4, 5])
    assert not outbox.stats().over_limit


def test_byte_bound_counts_payload_sizes(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=100, max_bytes=64 * 1024)
    for _ in range(8):
        outbox.append("telemetry", payload("t", 10 * 1024), droppable=True)
    stats = outbox.stats()
    assert stats.bytes <= 64 * 1024
    assert stats.depth == 6
    assert stats.dropped == 2
    assert [r.seq for r in outbox.pending(0, 10)] == [3, 4, 5, 6, 7, 8]


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
    assert [r.seq for r in outbox.pending(0, 10)] == [1, 2]
    assert (after.depth, after.bytes, after.dropped, after.last_seq) == (
        before.depth,
        before.bytes,
        before.dropped,
        before.last_seq,
    )
    outbox.db.close()
    reopened = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=2)
    assert (reopened.stats().depth, reopened.stats().bytes) == (after.depth, after.bytes)
