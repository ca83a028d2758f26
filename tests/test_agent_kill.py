"""SIGKILL and restart: nothing acknowledged is sent again as new, nothing unacknowledged lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from tests.support.collector import Collector, Received
from tests.support.mosquitto import Mosquitto

ROOT = Path(__file__).resolve().parents[1]


def start_agent(directory: Path, port: int, events: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.agent_proc", str(directory), str(port), str(events)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def by_seq(messages: list[Received]) -> dict[int, list[bytes]]:
    copies: dict[int, list[bytes]] = defaultdict(list)
    for m in messages:
        copies[int(m.json()["seq"])].append(m.payload)
    return copies


def test_sigkill_and_restart(mosquitto: Mosquitto, tmp_path: Path) -> None:
    with Collector(mosquitto.port, ["bins/v1/bin-001/events/#"]) as seen:
        first = start_agent(tmp_path, mosquitto.port, 2000)
        try:
            early = seen.wait_for(lambda ms: len(ms) >= 300, timeout=60)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        db = sqlite3.connect(tmp_path / "bin-001.db")
        pending = {row[0] for row in db.execute("SELECT seq FROM outbox")}
        last_seq = int(db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0])
        db.close()
        # A fresh database counts on from the clock (docs/protocol.md), not from 1.
        start = min(by_seq(early))
        assert last_seq >= start + 299
        assert pending, "the kill should leave unacknowledged messages behind"

        second = start_agent(tmp_path, mosquitto.port, 10)
        try:
            received = seen.wait_for(
                lambda ms: set(by_seq(ms)) >= set(range(start, last_seq + 11)), timeout=60
            )
        finally:
            second.terminate()
            second.wait(timeout=20)

    copies = by_seq(received)
    # Nothing unacknowledged was lost, and the restart continued the counter.
    assert sorted(copies) == list(range(start, last_seq + 11))
    # A repeated seq is always the very same message, never a new one under an old number.
    assert all(len(set(payloads)) == 1 for payloads in copies.values())
    # Only what was still in the outbox at the kill was sent again: a message the broker
    # acknowledged reached this subscriber once, and a second copy would show here.
    resent = {seq for seq, payloads in copies.items() if len(payloads) > 1}
    assert resent <= pending
