"""Remote commands: sent to a bin with a lifetime, answered by id, or given up on.

A technician's command (through the API) is stored and queued for MQTT in one
transaction: ``bins/v1/{bin_id}/cmd``, QoS 1, not retained (a retained command would
run again on every reconnect), with ``issued_at`` and ``expires_at`` on the bridge's
clock. The bin runs it only before ``expires_at`` (on its own clock) and answers once
on ``cmd/result`` with the command's id; the processor correlates that answer here.
A command still unanswered ``commands.result_grace_s`` after it expired is marked
``timed_out`` at a tick: the bin was offline or the answer was lost. An answer that
still comes later is recorded all the same (``answered_at`` after ``timed_out_at``).

Statuses: ``pending`` → ``ok`` / ``failed`` (the bin's ``ok``), or ``pending`` →
``timed_out`` (→ ``ok`` / ``failed`` if a late answer arrives).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from cloud_bridge.clock import Clock
from cloud_bridge.config.commands import ttl_problem
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.fleet import Fleet
from cloud_bridge.domain.records import CommandRecord
from cloud_bridge.errors import InvalidAction, NotFound
from cloud_bridge.services.notifier import Notifier
from cloud_bridge.store.protocols import Store
from protocol import MAX_PAYLOAD_BYTES, Command, CommandResult, TopicKind, bin_topic, encode
from protocol.messages import COMMAND_NAMES

logger = logging.getLogger(__name__)


def new_command_id() -> str:
    """A random command id (the bin remembers ids to run each command once)."""
    return f"cmd-{uuid.uuid4().hex[:20]}"


class CommandService:
    """Sends commands, correlates their answers and times out the unanswered."""

    def __init__(
        self,
        settings: BridgeSettings,
        store: Store,
        clock: Clock,
        fleet: Fleet,
        notifier: Notifier,
        *,
        new_id: Callable[[], str] = new_command_id,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._fleet = fleet
        self._notifier = notifier
        self._new_id = new_id
        self._pending: dict[str, CommandRecord] = {}

    def load(self, pending: Iterable[CommandRecord]) -> None:
        """Take the unanswered commands from the store (at start, or after a rollback)."""
        self._pending = {c.command_id: c for c in pending if c.status == "pending"}

    def send(
        self,
        bin_id: str,
        name: str,
        args: dict[str, Any],
        ttl_s: float | None,
        actor: str,
    ) -> CommandRecord:
        """Store and queue a command for ``bin_id``; raise naming the field that is wrong."""
        if name not in COMMAND_NAMES:
            raise InvalidAction(
                f"unknown command {name!r}; known: {', '.join(COMMAND_NAMES)}", field="name"
            )
        limits = self._settings.commands
        ttl = limits.default_ttl_s if ttl_s is None else ttl_s
        problem = ttl_problem(ttl, limits.max_ttl_s)
        if problem is not None:
            raise InvalidAction(problem, field="ttl_s")
        target = self._fleet.get(bin_id)
        if target is None:
            raise NotFound(f"no bin {bin_id!r}", field="bin_id")
        now = self._clock()
        record = CommandRecord(
            command_id=self._new_id(),
            bin_id=bin_id,
            name=name,
            args=dict(args),
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl),
            actor=actor,
        )
        try:
            command = Command(
                id=record.command_id,
                name=name,
                args=record.args,
                issued_at=record.issued_at,
                expires_at=record.expires_at,
            )
        except ValidationError as err:  # args JSON cannot carry (NaN, 1e400, beyond int64)
            problems = "; ".join(str(e["msg"]) for e in err.errors())
            raise InvalidAction(f"args: {problems}", field="args") from err
        payload = encode(command)
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvalidAction(
                f"the command is {len(payload)} bytes, over {MAX_PAYLOAD_BYTES}", field="args"
            )
        topic = bin_topic(bin_id, TopicKind.CMD, prefix=self._settings.broker.topic_prefix)
        self._store.save_command(record)
        self._notifier.publish(topic, payload)
        self._pending[record.command_id] = record
        logger.info(
            "command %s %s sent to %s%s by %s (expires %s)",
            record.command_id,
            name,
            bin_id,
            "" if target.online else " (offline: it waits in the bin's broker session)",
            actor,
            record.expires_at.isoformat(),
        )
        return record

    def on_result(self, result: CommandResult, now: datetime) -> str | None:
        """Record the bin's answer; return the command's id if this settled it."""
        command = self._pending.get(result.id) or self._store.get_command(result.id)
        if command is None:
            logger.info("result for command %s of %s, which the bridge did not send", result.id,
                        result.bin_id)  # fmt: skip
            return None
        if command.bin_id != result.bin_id:
            logger.warning(
                "bin %s answered command %s, which was sent to %s: ignored",
                result.bin_id,
                result.id,
                command.bin_id,
            )
            return None
        if command.answered_at is not None:
            return None
        command.status = "ok" if result.ok else "failed"
        command.result = dict(result.result)
        command.error = result.error
        command.answered_at = now
        self._store.save_command(command)
        self._pending.pop(command.command_id, None)
        late = " (after it timed out)" if command.timed_out_at is not None else ""
        logger.info(
            "command %s %s on %s: %s%s",
            command.command_id,
            command.name,
            command.bin_id,
            "ok" if result.ok else f"failed: {result.error}",
            late,
        )
        return command.command_id

    def tick(self) -> list[str]:
        """Time out the commands unanswered past their expiry and grace; return their ids."""
        now = self._clock()
        grace = timedelta(seconds=self._settings.commands.result_grace_s)
        settled: list[str] = []
        for command in list(self._pending.values()):
            if now < command.expires_at + grace:
                continue
            command.status = "timed_out"
            command.timed_out_at = now
            self._store.save_command(command)
            del self._pending[command.command_id]
            settled.append(command.command_id)
            logger.warning(
                "command %s %s to %s timed out: no answer by %s",
                command.command_id,
                command.name,
                command.bin_id,
                (command.expires_at + grace).isoformat(),
            )
        return settled
