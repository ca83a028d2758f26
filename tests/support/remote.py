"""Cloud-to-bin messages for tests (as the bridge would publish them), and reading a
bin's answers back from its outbox."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agent.app import Agent
from agent.clock import ManualClock
from protocol import TopicKind, bin_topic, encode
from protocol.messages import Command, ConfigDesired
from tests.support.bins import SimulatedBin


def command(
    name: str,
    now: datetime,
    *,
    command_id: str | None = None,
    ttl_s: float = 60.0,
    **args: Any,
) -> tuple[str, bytes]:
    """A command payload issued at ``now`` that expires ``ttl_s`` later; returns (id, payload)."""
    cid = command_id or f"cmd-{uuid.uuid4().hex[:10]}"
    message = Command(
        id=cid,
        name=name,
        args=args,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    return cid, encode(message)


def desired(version: int, config: dict[str, Any], now: datetime) -> bytes:
    """A ``config/desired`` payload."""
    return encode(ConfigDesired(version=version, config=config, issued_at=now))


def raw(data: dict[str, Any]) -> bytes:
    """Any JSON object, valid or not, as a payload."""
    return json.dumps(data).encode("utf-8")


@dataclass
class Remote:
    """Drives one bin's runtime with cloud messages on a virtual clock."""

    bin: SimulatedBin
    clock: ManualClock

    @property
    def agent(self) -> Agent:
        return self.bin.agent

    def topic(self, kind: TopicKind) -> str:
        return bin_topic(self.agent.config.identity.bin_id, kind)

    def send(self, kind: TopicKind, payload: bytes) -> None:
        """Deliver a message as the link would, then let the runtime step once."""
        self.agent.runtime.receive(self.topic(kind), payload)
        self.agent.runtime.step()

    def cmd(self, name: str, *, ttl_s: float = 60.0, **args: Any) -> dict[str, Any]:
        """Send a command and return its one result."""
        cid, payload = command(name, self.clock.now(), ttl_s=ttl_s, **args)
        self.send(TopicKind.CMD, payload)
        (answer,) = [r for r in self.results() if r["id"] == cid]
        return answer

    def run(self, seconds: float) -> None:
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end:
            wanted = self.agent.runtime.step()
            self.clock.advance(max(min(wanted, end) - self.clock.monotonic(), 0.001))

    def stored(self, suffix: str) -> list[dict[str, Any]]:
        rows = self.agent.outbox.pending(0, 100_000)
        return [json.loads(r.payload) for r in rows if r.topic.endswith(suffix)]

    def results(self) -> list[dict[str, Any]]:
        return self.stored("/cmd/result")

    def reports(self) -> list[dict[str, Any]]:
        return self.stored("/config/reported")


def close(test_bin: SimulatedBin) -> None:
    """Release a bin that was never started (no link to stop)."""
    test_bin.agent.hardware.close()
    test_bin.agent.db.close()
    test_bin.agent.instance_lock.release()
