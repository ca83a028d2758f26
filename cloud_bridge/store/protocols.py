"""The storage contract of the bridge.

The writer thread is the only writer: it opens a transaction per batch, records
messages idempotently on ``(bin_id, seq)``, saves the bins and pickups it changed and
queues outgoing publications, then commits and only then acknowledges the batch to
the broker. :class:`~cloud_bridge.store.sqlite.store.SQLiteStore` implements it; a
PostgreSQL store for several bridge workers would implement the same methods and
pass the same contract tests (``tests/contract/test_store_contract.py``).

A store raises only :class:`~cloud_bridge.errors.StoreError` and its leaves for its own
failures, never its driver's exceptions: :class:`~cloud_bridge.errors.StoreConflict`
when a write breaks a uniqueness rule (one open pickup per bin, one open ticket per bin
and kind, one pushed configuration per version), and
:class:`~cloud_bridge.errors.StoreUnavailable` when the work may succeed later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.domain.records import (
    BinRecord,
    CommandRecord,
    Delivery,
    DepositRow,
    DesiredConfig,
    PickupRecord,
    Publication,
    RejectionCount,
    TicketRecord,
)
from cloud_bridge.store.facility_protocol import FacilityStore
from protocol import DepositEvent, ManifestEntry, State, Telemetry


class StoredMessage(NamedTuple):
    """A deduplicated bin message as received (everything enveloped except ``state``).

    A named tuple rather than a dataclass: one is made per message on the hot path.
    """

    bin_id: str
    seq: int
    kind: str
    ts: datetime
    received_at: datetime
    payload: str


@dataclass(frozen=True, slots=True)
class SeqReset:
    """A technician's "this bin was re-flashed" (``bin-bridge bin reset``).

    A bin whose database was wiped starts its ``seq`` again and would collide with what
    it sent before. Once the bridge applies the reset, it stores the bin's messages
    under ``seq + seq_offset`` (``seq_offset`` being the highest ``seq`` it had from the
    bin), so the new sequence continues the old one and nothing stored is overwritten.
    """

    reset_id: int
    bin_id: str
    requested_at: datetime
    actor: str
    applied_at: datetime | None = None
    seq_offset: int | None = None


@dataclass(frozen=True, slots=True)
class FillPoint:
    """One telemetry reading of a bin's fill, for history and forecasting."""

    seq: int
    ts: datetime
    fill_pct: float | None
    weight_kg: float | None
    received_at: datetime | None = None
    clock_synced: bool | None = None
    door: str | None = None

    @property
    def at(self) -> datetime:
        """When the reading was taken, as well as the bridge knows.

        The bin's own timestamp when its clock was synchronised (so readings replayed
        after an outage keep their true times), else the time the bridge received it.
        """
        if self.clock_synced is False and self.received_at is not None:
            return self.received_at
        return self.ts


class DeliveryStore(Protocol):
    """The webhook delivery queue: rows written with the pickups that caused them.

    The queue is generic: a row is a ``kind`` (pickup or ticket), a ``key`` (its
    id) and the exact body, for one endpoint. Per endpoint, rows are delivered in id
    order, so a receiver sees a pickup's lifecycle in the order it happened.
    """

    def is_transient(self, error: BaseException) -> bool:
        """Whether the same work may succeed later (disk full, database locked, I/O error:
        a :class:`~cloud_bridge.errors.StoreUnavailable`): then it is retried, nothing
        acknowledged. Other errors (a bug, an SQL error caused by one message, a
        :class:`~cloud_bridge.errors.StoreConflict`) isolate the message that causes them."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Commit everything done inside on exit; roll all of it back on an exception."""
        ...

    def queue_delivery(self, endpoint: str, kind: str, key: str, body: bytes, at: datetime) -> int:
        """Add a pending delivery, due at once; return its id."""
        ...

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        """The oldest pending delivery of each endpoint, if it is due at ``now``."""
        ...

    def record_attempt(
        self,
        delivery_id: int,
        *,
        at: datetime,
        state: str,
        status: int | None,
        error: str | None,
        next_attempt_at: datetime,
    ) -> None:
        """Count an attempt; ``state``: delivered, pending (retry at ``next_attempt_at``), dead."""
        ...

    def list_deliveries(
        self, *, state: str | None = None, limit: int | None = None
    ) -> list[Delivery]:
        """Deliveries, newest first."""
        ...

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        """One delivery by its id (None if there is none)."""
        ...

    def retry_delivery(self, delivery_id: int, at: datetime) -> bool:
        """Make a dead delivery pending again with fresh attempts; False if it is not dead."""
        ...

    def delivery_counts(self) -> dict[str, int]:
        """Deliveries per state."""
        ...


class TechnicianStore(Protocol):
    """Tickets, remote commands and pushed configurations.

    One open ticket per bin and kind (the store refuses a second one); a resolved
    ticket is never reopened, a new occurrence is a new row.
    """

    def save_ticket(self, ticket: TicketRecord) -> None:
        """Insert or update a ticket by its id; ``StoreConflict`` for a second open ticket
        of the same bin and kind."""
        ...

    def get_ticket(self, ticket_id: str) -> TicketRecord | None:
        """One ticket by id."""
        ...

    def list_tickets(
        self,
        *,
        open_only: bool = False,
        status: str | None = None,
        region: str | None = None,
        bin_id: str | None = None,
        kind: str | None = None,
        limit: int | None = None,
    ) -> list[TicketRecord]:
        """Tickets, oldest opened first."""
        ...

    def count_tickets(self, bin_id: str, kind: str) -> int:
        """How many tickets of ``kind`` the bin has ever had."""
        ...

    def save_command(self, command: CommandRecord) -> None:
        """Insert or replace a command and its outcome."""
        ...

    def get_command(self, command_id: str) -> CommandRecord | None:
        """One command by id."""
        ...

    def list_commands(
        self,
        *,
        bin_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[CommandRecord]:
        """Commands, newest first."""
        ...

    def save_desired(self, desired: DesiredConfig) -> None:
        """Record one pushed configuration version of one bin; ``StoreConflict`` if that
        version was recorded already."""
        ...

    def get_desired(self, bin_id: str, version: int | None = None) -> DesiredConfig | None:
        """A pushed version of the bin's configuration (the newest when None)."""
        ...


class Store(DeliveryStore, TechnicianStore, FacilityStore, Protocol):
    """What the bridge needs of a database (the delivery queue and the technicians'
    tables included)."""

    def close(self) -> None:
        """Release the connection."""
        ...

    # -- writes, inside a transaction ------------------------------------------------

    def add_message(self, message: StoredMessage) -> bool:
        """Record a message once; return False when ``(bin_id, seq)`` was already stored."""
        ...

    def add_messages(self, messages: Sequence[StoredMessage]) -> None:
        """Record messages known to be new (duplicates among them are still ignored)."""
        ...

    def add_telemetry(self, rows: Sequence[tuple[Telemetry, datetime]]) -> None:
        """Record telemetry readings (already deduplicated) with their reception time."""
        ...

    def add_deposit(self, event: DepositEvent, received_at: datetime | None = None) -> None:
        """Record a deposit (already deduplicated) with its reception time."""
        ...

    def log_state(self, state: State, received_at: datetime, applied: bool) -> None:
        """Record a birth or death once per ``(bin_id, bd_seq, online)``."""
        ...

    def save_bins(self, bins: Iterable[BinRecord]) -> None:
        """Insert or replace bin records."""
        ...

    def save_pickup(self, pickup: PickupRecord) -> None:
        """Insert or replace a pickup; ``StoreConflict`` for a second open pickup of a bin."""
        ...

    def queue_publication(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Put a message in the outbox (to be published retained if ``retain``); return its id."""
        ...

    def remove_publications(self, ids: Iterable[int]) -> None:
        """Drop outbox entries the broker has acknowledged."""
        ...

    def count_rejections(
        self, reason: str, count: int, topic: str, detail: str, at: datetime
    ) -> None:
        """Add ``count`` rejections for ``reason``, remembering the latest example."""
        ...

    def request_seq_reset(self, bin_id: str, at: datetime, actor: str) -> int:
        """Record a technician's request to accept a re-flashed bin's new ``seq``; its id."""
        ...

    def apply_seq_reset(self, reset_id: int, seq_offset: int, at: datetime) -> None:
        """Mark a requested reset applied with the offset chosen for the bin."""
        ...

    # -- reads ------------------------------------------------------------------------

    def list_seq_resets(
        self, *, pending_only: bool = False, bin_id: str | None = None
    ) -> list[SeqReset]:
        """Resets in the order they were requested (only unapplied ones if ``pending_only``)."""
        ...

    def seq_offsets(self) -> dict[str, int]:
        """What to add to each reset bin's ``seq`` (its latest applied reset)."""
        ...

    def message_payload(self, bin_id: str, seq: int) -> str | None:
        """The payload stored under ``(bin_id, seq)``, to tell a redelivery from a reused seq."""
        ...

    def load_bins(self) -> list[BinRecord]:
        """Every bin, ordered by id."""
        ...

    def get_bin(self, bin_id: str) -> BinRecord | None:
        """One bin by id."""
        ...

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
        """Pickups, oldest request first; ``since``/``until`` bound ``requested_at``."""
        ...

    def get_pickup(self, pickup_id: str) -> PickupRecord | None:
        """One pickup by id."""
        ...

    def manifest(
        self, bin_id: str, after_seq: int, before_seq: int | None = None
    ) -> dict[str, ManifestEntry]:
        """Count and kg per category of accepted deposits with ``seq`` in the open range."""
        ...

    def pending_publications(self) -> list[Publication]:
        """Outbox entries not yet acknowledged, oldest first."""
        ...

    def rejection_counts(self) -> list[RejectionCount]:
        """Rejections per reason."""
        ...

    def message_counts(self) -> dict[str, int]:
        """How many deduplicated messages are stored, per kind (topic suffix)."""
        ...

    def fill_history(
        self,
        bin_id: str,
        *,
        after_seq: int = 0,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[FillPoint]:
        """A bin's telemetry readings in ``seq`` order (``since``/``until`` bound the bin's ``ts``).

        With ``limit``, the newest ``limit`` readings (still in ``seq`` order).
        """
        ...

    def fill_series(
        self, bin_id: str, *, after_seq: int = 0, since: datetime | None = None
    ) -> list[tuple[datetime, float | None, str | None]]:
        """A bin's readings in ``seq`` order as ``(at, fill_pct, door)``, ``at`` being
        :attr:`FillPoint.at` (``since`` bounds it): what forecasts and rhythms read, at a
        fraction of :meth:`fill_history`'s cost (they read it for every bin at every
        forecast)."""
        ...

    def door_changes(self, bin_id: str, since: datetime) -> list[tuple[datetime, str | None]]:
        """``(at, door)`` of the bin's readings since ``since`` (``FillPoint.at``) that
        report the door ``locked`` or follow one that did, in ``seq`` order: all that
        :func:`~cloud_bridge.services.forecasts.locked_intervals` needs of four weeks of
        readings."""
        ...

    def deposit_times(self, bin_id: str, since: datetime) -> list[datetime]:
        """When the bin's accepted deposits happened (bin time when synced), since ``since``."""
        ...

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
        """Stored deposits ordered by bin time (``since``/``until`` bound ``ts``)."""
        ...

    def save_forecast(self, bin_id: str, forecast: Forecast) -> None:
        """Replace the bin's latest forecast."""
        ...

    def load_forecasts(self) -> dict[str, Forecast]:
        """Every bin's latest forecast."""
        ...

    def get_forecast(self, bin_id: str) -> Forecast | None:
        """One bin's latest forecast."""
        ...

    def stored_messages(self, bin_id: str) -> Iterator[StoredMessage]:
        """A bin's stored messages in ``seq`` order."""
        ...
