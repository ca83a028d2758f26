"""Turning a batch of received MQTT messages into stored facts, in one transaction.

The processor is the whole ingest path except the network: it validates each
message, rejects bad ones with a counted, logged reason, stores good ones once per
``(bin_id, seq)``, moves each bin's state and presence forward and lets the pickup
service react; then the ticket service re-evaluates the bins whose condition moved,
and command results are correlated with the commands the bridge sent. Last, it
composes each bin's ``ack``: the ``seq`` values of the batch that the bridge stored,
found stored already, or rejected for good (docs/protocol.md), which the writer
publishes after the commit. Nothing here knows about MQTT, so the tests drive it
directly.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from cloud_bridge.clock import Clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.domain.fleet import Fleet
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.domain.records import CommandRecord, DesiredConfig, Publication
from cloud_bridge.engine.ratelimit import RateLimitedLog
from cloud_bridge.services.facility import FacilityService
from cloud_bridge.services.forecasts import ForecastService
from cloud_bridge.services.notifier import Notifier
from cloud_bridge.services.pickups import PickupService
from cloud_bridge.services.remote_commands import CommandService
from cloud_bridge.services.remote_config import ConfigService
from cloud_bridge.services.tickets import TicketService
from cloud_bridge.store.protocols import Store, StoredMessage
from protocol import (
    AlarmEvent,
    BinMessage,
    CommandResult,
    ConfigReported,
    DepositEvent,
    EmptiedEvent,
    FaultEvent,
    Health,
    ProtocolError,
    SchemaError,
    State,
    Telemetry,
    TopicKind,
    UnknownTopic,
    decode_bin_message,
)
from protocol.acks import acks_for
from protocol.codec import MAX_PAYLOAD_BYTES, encode
from protocol.messages import MAX_SEQ
from protocol.topics import bin_topic, parse_bin_topic, valid_bin_id, valid_region

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

OVERLOAD_REASON = "overload"
"""Rejection reason of QoS 0 messages dropped because the ingest queue was full."""

INTERNAL_REASON = "internal"
"""Rejection reason of a message the bridge itself failed on (logged with its traceback)."""

SEQ_REUSED_REASON = "seq_reused"
"""Rejection reason of a message whose ``(bin_id, seq)`` is stored with other content."""

_STORED, _DUPLICATE, _SEQ_REUSED = "stored", "duplicate", "seq_reused"
_DESIRED_SUFFIX = "/" + TopicKind.CONFIG_DESIRED.value


@dataclass(slots=True)
class BatchOutcome:
    """What a committed batch did."""

    stored: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    publications: list[Publication] = field(default_factory=list)
    webhooks: int = 0
    """Webhook deliveries queued by the batch (the worker is woken for them)."""
    settled: list[str] = field(default_factory=list)
    """Commands the batch settled (answered or timed out): callers waiting are woken."""
    unknown_desired: int = 0
    """Desired configurations seen on the broker that the bridge had not issued (adopted
    or cleared; not counted as stored, duplicate or rejected)."""
    acks: list[tuple[str, bytes]] = field(default_factory=list)
    """``(topic, payload)`` of the bins' ``ack`` messages, published after the commit."""
    acked: int = 0
    """How many ``seq`` values those acks name."""


@dataclass(slots=True)
class _Rejections:
    count: int
    topic: str
    detail: str


class Processor:
    """Validates, stores and applies batches; owns the in-memory fleet and pickups."""

    def __init__(
        self,
        settings: BridgeSettings,
        store: Store,
        clock: Clock,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._prefix = settings.broker.topic_prefix
        self.fleet = Fleet(store.load_bins(), default_region=settings.default_region)
        self.notifier = Notifier(store, clock, list(settings.webhooks))
        self.forecasts = ForecastService(settings, store)
        self.forecasts.load(self.fleet.all())
        self.pickups = PickupService(
            settings, store, clock, self.fleet, self.notifier, self.forecasts
        )
        self.pickups.load(store.list_pickups(open_only=True))
        self.tickets = TicketService(settings, store, clock, self.fleet, self.notifier)
        self.tickets.load(store.list_tickets(open_only=True))
        self.commands = CommandService(settings, store, clock, self.fleet, self.notifier)
        self.commands.load(store.list_commands(status="pending"))
        self.configs = ConfigService(settings, store, clock, self.fleet, self.notifier)
        self.facility = FacilityService(settings, store, clock, self.fleet, self.tickets)
        self._seq_offsets = store.seq_offsets()
        self._touched: set[str] = set()
        self._settled: list[str] = []
        self._reject_log = RateLimitedLog(
            logger, settings.ingest.rejection_logs_per_minute, monotonic=monotonic
        )

    def reload(self) -> None:
        """Forget in-memory changes of a rolled-back batch: read the state back."""
        self.fleet.reset(self._store.load_bins())
        self.notifier.discard()
        self.forecasts.load(self.fleet.all())
        self.pickups.load(self._store.list_pickups(open_only=True))
        self.tickets.load(self._store.list_tickets(open_only=True))
        self.commands.load(self._store.list_commands(status="pending"))
        self._seq_offsets = self._store.seq_offsets()
        self._touched.clear()
        self._settled.clear()

    def process(
        self, batch: Sequence[Inbound], *, overload: tuple[int, str] | None = None
    ) -> BatchOutcome:
        """Handle ``batch`` in one transaction; raise (after rolling back) if the store fails.

        ``overload`` is (count, latest topic) of messages dropped unread since the last
        batch because the queue was full; they are counted with the batch.
        """
        outcome = BatchOutcome()
        now = self._clock()
        rejections: dict[str, _Rejections] = {}
        if overload is not None and overload[0] > 0:
            rejections[OVERLOAD_REASON] = _Rejections(
                overload[0], overload[1], "dropped unread: the ingest queue was full"
            )
        telemetry: list[tuple[Telemetry, datetime]] = []
        new: list[StoredMessage] = []
        acked: dict[str, set[int]] = {}
        self._touched.clear()
        self._settled.clear()
        with self._store.transaction():
            for item in batch:
                try:
                    if item.topic.endswith(_DESIRED_SUFFIX):
                        outcome.unknown_desired += self._desired(item)
                        continue
                    _, message = decode_bin_message(item.topic, item.payload, prefix=self._prefix)
                    if isinstance(message, State) and not valid_region(message.region):
                        raise SchemaError(
                            f"field 'region' is {message.region!r}, which cannot be a topic level",
                            fields=["region"],
                            topic=item.topic,
                        )
                    raw_seq = message.seq
                    offset = self._seq_offsets.get(message.bin_id)
                    if offset:
                        message = self._shifted(message, offset, item.topic)
                except ProtocolError as err:
                    self._reject(rejections, err.reason, item.topic, str(err))
                    self._ack_rejected(acked, item)
                    continue
                result = self._apply(message, item, now, telemetry, new)
                if result != _SEQ_REUSED and not isinstance(message, State):
                    # The bin's own seq, not the one a reset shifted it to.
                    acked.setdefault(message.bin_id, set()).add(raw_seq)
                if result == _STORED:
                    outcome.stored += 1
                elif result == _DUPLICATE:
                    outcome.duplicates += 1
                else:
                    raw_seq = message.seq - (offset or 0)
                    self._reject(
                        rejections,
                        SEQ_REUSED_REASON,
                        item.topic,
                        f"{item.topic}: bin {message.bin_id} sent seq {raw_seq} again with "
                        "other content (was its database wiped?); if it was re-flashed, "
                        f"accept its new sequence with `bin-bridge bin reset {message.bin_id}`",
                    )
            if new:
                self._store.add_messages(new)
            if telemetry:
                self._store.add_telemetry(telemetry)
            for bin_id in sorted(self._touched):
                touched = self.fleet.get(bin_id)
                if touched is not None:
                    self.tickets.evaluate(touched, now)
            self._store.save_bins(self.fleet.take_dirty())
            for reason, entry in rejections.items():
                self._store.count_rejections(reason, entry.count, entry.topic, entry.detail, now)
        outcome.rejected = {reason: entry.count for reason, entry in rejections.items()}
        outcome.publications, outcome.webhooks = self.notifier.take()
        outcome.settled = list(self._settled)
        for bin_id in sorted(acked):
            topic = bin_topic(bin_id, TopicKind.ACK, prefix=self._prefix)
            outcome.acks += [(topic, encode(ack)) for ack in acks_for(acked[bin_id], now)]
            outcome.acked += len(acked[bin_id])
        return outcome

    def _desired(self, item: Inbound) -> int:
        """A ``config/desired`` message (the bridge listens to what it publishes): 1 if
        it was one the bridge had not issued, else 0."""
        parsed = parse_bin_topic(item.topic, prefix=self._prefix)
        if parsed.kind is not TopicKind.CONFIG_DESIRED:
            raise UnknownTopic("not a config/desired topic", topic=item.topic)
        return int(self.configs.on_desired(parsed.bin_id, item.topic, item.payload))

    def _ack_rejected(self, acked: dict[str, set[int]], item: Inbound) -> None:
        """Acknowledge a rejected message whose bin and ``seq`` can still be read.

        It will never be stored, so a bin that kept it until the bridge confirms would
        keep it forever and send it again and again. Not acknowledged: a state message
        (its ``seq`` is the bin's counter, not its own), one under no bin's topic, one
        whose payload is not a JSON object with a valid ``seq``; and, elsewhere, a
        ``seq_reused`` message (stored after ``bin-bridge bin reset``, so the bin keeps
        it until then) or one the bridge failed on (``internal``: a fixed bridge stores
        it when the bin sends it again).
        """
        head = self._prefix + "/"
        if not item.topic.startswith(head) or len(item.payload) > MAX_PAYLOAD_BYTES:
            return
        bin_id, _, kind = item.topic[len(head) :].partition("/")
        if not valid_bin_id(bin_id) or kind in ("", TopicKind.STATE.value):
            return
        try:
            data = json.loads(item.payload)
        except (ValueError, RecursionError):
            return
        seq = data.get("seq") if isinstance(data, dict) else None
        if isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_SEQ:
            acked.setdefault(bin_id, set()).add(seq)

    def tick(self) -> BatchOutcome:
        """Time-based policy in one transaction: forecasts, escalation, priorities,
        command timeouts and the tickets that time opens (offline grace and the like)."""
        with self._store.transaction():
            self._apply_seq_resets()
            self.pickups.tick()
            settled = self.commands.tick()
            self.tickets.tick()
            self._store.save_bins(self.fleet.take_dirty())
        outcome = BatchOutcome()
        outcome.publications, outcome.webhooks = self.notifier.take()
        outcome.settled = settled
        return outcome

    def act(self, action: Callable[[PickupService], _T]) -> tuple[_T, BatchOutcome]:
        """Run a scheduler's action on the pickups in one transaction."""
        return self.run(lambda: action(self.pickups))

    def run(self, action: Callable[[], _T]) -> tuple[_T, BatchOutcome]:
        """Run an action (a scheduler's, a technician's) in one transaction.

        The action's error (not found, conflict, invalid) rolls everything back and is
        raised to the caller after the in-memory state was read back from the store.
        """
        try:
            with self._store.transaction():
                result = action()
                self._store.save_bins(self.fleet.take_dirty())
        except BaseException:
            self.reload()
            raise
        outcome = BatchOutcome()
        outcome.publications, outcome.webhooks = self.notifier.take()
        return result, outcome

    def send_command(
        self, bin_id: str, name: str, args: dict[str, Any], ttl_s: float | None, actor: str
    ) -> CommandRecord:
        """A technician's command (call inside :meth:`run`)."""
        return self.commands.send(bin_id, name, args, ttl_s, actor)

    def push_config(
        self,
        config: dict[str, Any],
        *,
        bin_id: str | None,
        region: str | None,
        actor: str,
    ) -> list[DesiredConfig]:
        """A technician's configuration push (call inside :meth:`run`); a ticket about an
        older version that the new one supersedes resolves at once."""
        pushed = self.configs.push(config, bin_id=bin_id, region=region, actor=actor)
        for desired in pushed:
            record = self.fleet.get(desired.bin_id)
            if record is not None:
                self.tickets.evaluate(record)
        return pushed

    def reject_internal(self, item: Inbound, error: BaseException) -> None:
        """Count, in its own transaction, a message the bridge could not handle.

        Logged (rate-limited, with the traceback) and stored under the ``internal``
        reason with the topic and the bin it came from, so the bug can be found while
        the bridge goes on with the next message.
        """
        try:
            bin_id = parse_bin_topic(item.topic, prefix=self._prefix).bin_id
        except ProtocolError:
            bin_id = "(unknown)"
        detail = f"bin {bin_id}: {type(error).__name__}: {error}"[:500]
        self._reject_log.warning(
            INTERNAL_REASON,
            "rejected (%s) message from bin %s on %s: the bridge failed on it: %s: %s",
            INTERNAL_REASON,
            bin_id,
            item.topic,
            type(error).__name__,
            error,
            exc_info=error,
        )
        with self._store.transaction():
            self._store.count_rejections(INTERNAL_REASON, 1, item.topic, detail, self._clock())

    def _apply_seq_resets(self) -> None:
        """Apply technicians' resets of re-flashed bins (``bin-bridge bin reset``).

        From now on the bin's messages are stored under ``seq + offset``, the offset
        being the highest ``seq`` the bridge has from it, so its restarted counter goes
        on after everything stored. Its presence forgets the old ``bd_seq``, which the
        re-flashed bin starts again too, so its next birth counts.
        """
        for reset in self._store.list_seq_resets(pending_only=True):
            record = self.fleet.get(reset.bin_id)
            offset = self._seq_offsets.get(reset.bin_id, 0)
            if record is not None:
                offset = max(record.last_seq, record.stored_seq)
                record.bd_seq = None
                self.fleet.touch(reset.bin_id)
            self._store.apply_seq_reset(reset.reset_id, offset, self._clock())
            self._seq_offsets[reset.bin_id] = offset
            logger.warning(
                "bin %s reset by %s: its messages are now stored under seq + %d",
                reset.bin_id,
                reset.actor,
                offset,
            )

    @staticmethod
    def _shifted(message: BinMessage, offset: int, topic: str) -> BinMessage:
        """``message`` with the bridge's ``seq`` of a reset bin (its own plus ``offset``)."""
        seq = message.seq + offset
        if seq > MAX_SEQ:
            raise SchemaError(
                f"field 'seq' is {message.seq}, which with the offset {offset} of the "
                f"bin's reset exceeds {MAX_SEQ}",
                fields=["seq"],
                topic=topic,
            )
        return message.model_copy(update={"seq": seq})

    def _same_content(self, stored: StoredMessage) -> bool:
        """Whether the message already stored under ``(bin_id, seq)`` is this one.

        A redelivery carries the same bytes; the JSON is compared too, so one re-encoded
        (other key order or spacing) still counts as the same message.
        """
        existing = self._store.message_payload(stored.bin_id, stored.seq)
        if existing is None or existing == stored.payload:
            return True
        try:
            return bool(json.loads(existing) == json.loads(stored.payload))
        except ValueError:
            return False

    def _reject(
        self, rejections: dict[str, _Rejections], reason: str, topic: str, detail: str
    ) -> None:
        detail = detail[:500]
        entry = rejections.get(reason)
        if entry is None:
            rejections[reason] = _Rejections(1, topic, detail)
        else:
            entry.count += 1
            entry.topic = topic
            entry.detail = detail
        self._reject_log.warning(reason, "rejected (%s) %s", reason, detail)

    def _apply(
        self,
        message: BinMessage,
        item: Inbound,
        now: datetime,
        telemetry: list[tuple[Telemetry, datetime]],
        new: list[StoredMessage],
    ) -> str:
        """Store and apply one valid message: ``_STORED``, ``_DUPLICATE`` (the same
        message again) or ``_SEQ_REUSED`` (other content under a stored ``seq``).

        A message above the bin's ``stored_seq`` is new for certain and joins ``new``
        (written with one statement per batch); one at or below it is looked up.
        """
        if isinstance(message, State):
            record = self.fleet.heard(message, now)
            applied = self.fleet.apply_state(record, message, now)
            self._store.log_state(message, now, applied)
            if applied:
                self._touched.add(record.bin_id)
            return _STORED
        kind = item.topic[len(self._prefix) + len(message.bin_id) + 2 :]
        stored = StoredMessage(
            bin_id=message.bin_id,
            seq=message.seq,
            kind=kind,
            ts=message.ts,
            received_at=now,
            payload=item.payload.decode("utf-8"),
        )
        known = self.fleet.get(message.bin_id)
        if known is not None and message.seq <= known.stored_seq:
            if new:
                self._store.add_messages(new)
                new.clear()
            if not self._store.add_message(stored):
                return _DUPLICATE if self._same_content(stored) else _SEQ_REUSED
        else:
            new.append(stored)
        record = self.fleet.heard(message, now)
        record.stored_seq = max(record.stored_seq, message.seq)
        if isinstance(message, Telemetry):
            telemetry.append((message, now))
            if self.fleet.apply_telemetry(record, message):
                self.pickups.on_telemetry(record, message)
        elif isinstance(message, DepositEvent):
            self._store.add_deposit(message, now)
            self.pickups.on_deposit(record, message)
        elif isinstance(message, EmptiedEvent):
            self.pickups.on_emptied(record, message)
            if self.fleet.apply_emptied(record, message):
                self.pickups.after_emptying(record)
        elif isinstance(message, AlarmEvent):
            if self.fleet.apply_alarm(record, message):
                self.pickups.on_alarm(record, message)
                self._touched.add(record.bin_id)
        elif isinstance(message, FaultEvent):
            if self.fleet.apply_fault(record, message):
                self._touched.add(record.bin_id)
        elif isinstance(message, Health):
            if self.fleet.apply_health(record, message):
                self.tickets.on_health(record, now)
                self._touched.add(record.bin_id)
        elif isinstance(message, ConfigReported):
            if self.fleet.apply_config_reported(record, message, now):
                self._touched.add(record.bin_id)
        elif isinstance(message, CommandResult):
            settled = self.commands.on_result(message, now)
            if settled is not None:
                self._settled.append(settled)
        return _STORED
