"""End-to-end confirmation on the bin: outbox rows pending, sent, confirmed; what goes again.

The broker's PUBACK marks a row sent; the bridge's ack (ranges of seqs) deletes it.
Sent rows still count toward the outbox's bounds, and go again after a reconnect, or
after ``broker.confirm_timeout_s`` once the bridge acknowledges others.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from agent.clock import ManualClock
from agent.link.confirm import Confirmations
from agent.storage.localdb import LocalDb
from agent.storage.outbox import Outbox
from protocol.acks import acks_for, covered, seq_ranges
from protocol.codec import encode

TOPIC = "bins/v1/bin-001/events/alarm"
ACK_TOPIC = "bins/v1/bin-001/ack"


def payload(text: str) -> Callable[[int], bytes]:
    return lambda seq: f"{text}:{seq}".encode()


def open_outbox(path: Path, clock: ManualClock, max_rows: int = 1000) -> Outbox:
    return Outbox(LocalDb(path), clock, max_rows=max_rows, max_bytes=1_000_000)


def fill(outbox: Outbox, count: int, *, droppable: bool = False, topic: str = TOPIC) -> list[int]:
    seqs = [outbox.append(topic, payload("m"), droppable=droppable) for _ in range(count)]
    assert all(seq is not None for seq in seqs)
    return [seq for seq in seqs if seq is not None]


def seqs_in(outbox: Outbox) -> list[int]:
    return [row.seq for row in outbox.pending(0, 1000)]


def ack(*ranges: tuple[int, int]) -> bytes:
    return json.dumps(
        {"v": 1, "ranges": [list(r) for r in ranges], "ts": "2026-11-23T06:00:00.000Z"}
    ).encode()


def test_ranges_name_exactly_the_seqs_even_across_gaps() -> None:
    assert seq_ranges([7, 3, 4, 5, 9, 10, 4]) == [(3, 5), (7, 7), (9, 10)]
    assert seq_ranges([]) == []
    many = list(range(1, 5001, 2))  # 2 500 single seqs: more than one ack holds
    acks = acks_for(many, ManualClock().now())
    assert [len(a.ranges) for a in acks] == [1000, 1000, 500]
    assert sum(covered(a.ranges) for a in acks) == 2500
    assert all(len(encode(a)) < 64 * 1024 for a in acks)


def test_a_row_is_sent_at_the_puback_and_deleted_by_the_bridges_ack(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock())
    s1, s2, s3 = fill(outbox, 3)
    assert outbox.mark_sent([s1, s2]) == 2
    assert outbox.mark_sent([s1]) == 0  # already sent: its first time is kept
    stats = outbox.stats()
    assert (stats.depth, stats.unconfirmed) == (3, 2)
    assert outbox.confirm([(s1, s2)]) == 2
    assert seqs_in(outbox) == [s3]
    assert outbox.stats().unconfirmed == 0
    # An ack may overtake the PUBACK's bookkeeping: the bridge has it, the row goes.
    assert outbox.confirm([(s3, s3)]) == 1
    assert outbox.confirm([(s3, s3)]) == 0  # a repeated ack (a duplicate) is harmless
    assert outbox.stats().depth == 0


def test_an_ack_deletes_exactly_its_ranges(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock())
    seqs = fill(outbox, 10)
    outbox.mark_sent(seqs)
    assert outbox.confirm([(seqs[1], seqs[3]), (seqs[6], seqs[6])]) == 4
    assert seqs_in(outbox) == [seqs[0], seqs[4], seqs[5], seqs[7], seqs[8], seqs[9]]
    assert outbox.stats().unconfirmed == 6


def test_sent_rows_count_toward_the_bounds_and_sent_telemetry_still_goes_first(
    tmp_path: Path,
) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock(), max_rows=5)
    event = fill(outbox, 1)[0]
    telemetry = fill(outbox, 4, droppable=True, topic="bins/v1/bin-001/telemetry")
    outbox.mark_sent([event, *telemetry])
    assert outbox.stats().unconfirmed == 5
    # Full: a new event makes room by dropping the oldest telemetry, sent or not.
    new = fill(outbox, 1)[0]
    stats = outbox.stats()
    assert (stats.depth, stats.dropped, stats.unconfirmed) == (5, 1, 4)
    assert seqs_in(outbox) == [event, *telemetry[1:], new]
    # Only events left unconfirmed: telemetry is refused and counted, events still stored.
    outbox.confirm([(telemetry[1], telemetry[-1])])
    fill(outbox, 4)
    assert outbox.append("bins/v1/bin-001/telemetry", payload("t"), droppable=True) is None
    assert outbox.stats().dropped == 2


def test_the_sent_state_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    outbox = open_outbox(tmp_path / "a.db", clock)
    s1, s2 = fill(outbox, 2)
    outbox.mark_sent([s1])
    clock.advance(90)
    outbox.db.close()
    again = open_outbox(tmp_path / "a.db", clock)
    stats = again.stats()
    assert (stats.depth, stats.unconfirmed) == (2, 1)
    assert stats.unconfirmed_oldest_s == pytest.approx(90.0, abs=1.0)
    assert again.oldest_sent_at() == clock.now() - timedelta(seconds=90)  # for status
    assert [row.seq for row in again.sent(0, s2, clock.monotonic(), 10)] == [s1]


def test_sent_rows_are_chosen_by_when_the_broker_took_them(tmp_path: Path) -> None:
    clock = ManualClock()
    outbox = open_outbox(tmp_path / "a.db", clock)
    seqs = fill(outbox, 4)
    outbox.mark_sent(seqs[:2])
    clock.advance(100)
    outbox.mark_sent(seqs[2:])
    assert [r.seq for r in outbox.sent(0, seqs[-1], 50.0, 10)] == seqs[:2]
    assert [r.seq for r in outbox.sent(seqs[0], seqs[-1], 200.0, 2)] == seqs[1:3]
    assert [r.seq for r in outbox.sent(0, seqs[1], 200.0, 10)] == seqs[:2]


def test_an_older_retained_row_goes_again_without_the_retain_flag(tmp_path: Path) -> None:
    reported = "bins/v1/bin-001/config/reported"
    clock = ManualClock()
    outbox = open_outbox(tmp_path / "a.db", clock)
    v1 = outbox.append(reported, payload("v1"), droppable=False, retain=True)
    v2 = outbox.append(reported, payload("v2"), droppable=False, retain=True)
    assert v1 is not None
    assert v2 is not None
    assert [row.retain for row in outbox.pending(0, 10)] == [True, True]
    # The bridge confirmed version 2 but not version 1 (its ack was lost): sending v1
    # again retained would replace the newer retained report on the broker.
    outbox.confirm([(v2, v2)])
    assert [(row.seq, row.retain) for row in outbox.pending(0, 10)] == [(v1, False)]
    outbox.db.close()
    assert [row.retain for row in open_outbox(tmp_path / "a.db", clock).pending(0, 10)] == [False]


def test_wait_drained_waits_for_the_broker_not_the_bridge(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "a.db", ManualClock())
    seqs = fill(outbox, 2)
    assert not outbox.wait_drained(0.01)
    outbox.mark_sent(seqs)
    assert outbox.wait_drained(0.01)


def confirmations(outbox: Outbox, clock: ManualClock, *, end_to_end: bool = True) -> Confirmations:
    return Confirmations(
        outbox,
        clock,
        bin_id="bin-001",
        end_to_end=end_to_end,
        timeout_s=60.0,
        ack_topic=ACK_TOPIC,
    )


def test_the_pubacks_delete_in_broker_mode_and_mark_in_bridge_mode(tmp_path: Path) -> None:
    clock = ManualClock()
    outbox = open_outbox(tmp_path / "a.db", clock)
    s1, s2, s3 = fill(outbox, 3)
    confirmations(outbox, clock, end_to_end=False).settle([s1])
    assert seqs_in(outbox) == [s2, s3]
    bridge_mode = confirmations(outbox, clock)
    # A row the bridge confirms right after its PUBACK is deleted in one write, never
    # marked sent (the sent state waits MARK_AFTER_S for the ack).
    bridge_mode.settle([s2])
    bridge_mode.receive(ack((s2, s2)))
    assert bridge_mode.waiting()
    bridge_mode.settle([])
    assert seqs_in(outbox) == [s3]
    assert outbox.unconfirmed == 0
    # One the bridge does not confirm (yet) is marked sent, and stays.
    bridge_mode.settle([s3])
    assert outbox.unconfirmed == 0
    bridge_mode.settle([], final=True)
    assert outbox.unconfirmed == 1
    bridge_mode.receive(ack((s3, s3)))
    bridge_mode.settle([])
    assert outbox.stats().depth == 0


def test_an_ack_that_cannot_be_read_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agent.link.confirm")
    clock = ManualClock()
    outbox = open_outbox(tmp_path / "a.db", clock)
    (seq,) = fill(outbox, 1)
    link = confirmations(outbox, clock)
    for bad in (b"not json", ack((seq + 1, seq)), b'{"v": 1, "ranges": [], "ts": "x"}'):
        link.receive(bad)
    link.settle([])
    assert seqs_in(outbox) == [seq]
    assert caplog.text.count("ignores an ack it cannot read") == 3


def test_a_reconnect_sends_every_unconfirmed_row_again_in_seq_order(tmp_path: Path) -> None:
    clock = ManualClock()
    outbox = open_outbox(tmp_path / "a.db", clock)
    seqs = fill(outbox, 6)
    link = confirmations(outbox, clock)
    outbox.mark_sent(seqs[:4])
    link.settle([seqs[4]])  # PUBACKed just before the drop: not yet marked, goes too
    link.reconnected(handed_seq=seqs[5])  # the sixth is still in flight
    # Two at a time; the one paho still holds in flight (it re-sends it itself) is skipped.
    inflight = {seqs[2], seqs[5]}
    assert [r.seq for r in link.resend(2, inflight, seqs[5])] == seqs[:2]
    assert link.resending()
    assert [r.seq for r in link.resend(2, inflight, seqs[5])] == [seqs[3], seqs[4]]
    assert link.resend(2, inflight, seqs[5]) == []
    assert not link.resending()
    assert link.resent == 4
    # In broker mode there is nothing to send again.
    broker_mode = confirmations(outbox, clock, end_to_end=False)
    broker_mode.reconnected(handed_seq=seqs[5])
    assert broker_mode.resend(10, set(), seqs[5]) == []
    assert not broker_mode.resending()


def test_unconfirmed_rows_go_again_once_the_bridge_acknowledged_newer_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.link.confirm")
    clock = ManualClock()
    outbox = open_outbox(tmp_path / "a.db", clock)
    lost = fill(outbox, 3)
    outbox.mark_sent(lost)
    link = confirmations(outbox, clock)
    clock.advance(61)
    # Past the timeout, but no ack came since: the bridge may be down. Nothing goes
    # (copies would only fill the broker's queue for it); the log says why.
    assert link.resend(10, set(), lost[-1]) == []
    assert "no ack came on bins/v1/bin-001/ack since the start" in caplog.text
    # A later message is stored and acknowledged: the bridge, which gets a bin's
    # messages in order, went past the three, so they were lost on the way. A newer
    # one it has not acknowledged yet may simply not have reached it: it waits.
    later, newer = fill(outbox, 2)
    outbox.mark_sent([later, newer])
    link.receive(ack((later, later)))
    link.settle([])
    assert link.resend(10, set(), newer) == []  # checked every timeout/4 at most
    clock.advance(15)
    assert [r.seq for r in link.resend(10, set(), newer)] == lost
    assert link.resend(10, set(), newer) == []
    assert "published 3 unconfirmed messages again (unconfirmed)" in caplog.text
    link.settle(lost, final=True)  # the broker took them again
    # At most once per timeout after the broker last took them.
    clock.advance(30)
    assert link.resend(10, set(), newer) == []
    clock.advance(31)
    assert [r.seq for r in link.resend(10, set(), newer)] == lost
