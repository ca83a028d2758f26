"""The storage contract of the bridge.

The writer thread is the only writer: it opens a transaction per batch, records
messages idempotently on ``(bin_id, seq)``, saves the bins and pickups it changed and
queues outgoing publications, then commits and only then acknowledges the batch to
the broker. :class:`~cloud_bridge.sqlite_store.SQLiteStore` implements it; a
PostgreSQL store for several bridge workers would implement the same methods and
pass the same contract tests (``tests/test_bridge_store.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from cloud_bridge.records import BinRecord, PickupRecord, Publication, RejectionCount
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
class FillPoint:
    """One telemetry reading of a bin's fill, for history and forecasting."""

    seq: int
    ts: datetime
    fill_pct: float | None
    weight_kg: float | None


class Store(Protocol):
    """What the bridge needs of a database."""

    transient_errors: tuple[type[BaseException], ...]
    """Errors after which the same batch may succeed later (disk full, database locked)."""

    def transaction(self) -> AbstractContextManager[None]:
        """Commit everything done inside on exit; roll all of it back on an exception."""
        ...

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

    def add_deposit(self, event: DepositEvent) -> None:
        """Record a deposit (already deduplicated)."""
        ...

    def log_state(self, state: State, received_at: datetime, applied: bool) -> None:
        """Record a birth or death once per ``(bin_id, bd_seq, online)``."""
        ...

    def save_bins(self, bins: Iterable[BinRecord]) -> None:
        """Insert or replace bin records."""
        ...

    def save_pickup(self, pickup: PickupRecord) -> None:
        """Insert or replace a pickup."""
        ...

    def queue_publication(self, topic: str, payload: bytes) -> int:
        """Put a message in the outbox; return its id."""
        ...

    def remove_publications(self, ids: Iterable[int]) -> None:
        """Drop outbox entries the broker has acknowledged."""
        ...

    def count_rejections(
        self, reason: str, count: int, topic: str, detail: str, at: datetime
    ) -> None:
        """Add ``count`` rejections for ``reason``, remembering the latest example."""
        ...

    # -- reads ------------------------------------------------------------------------

    def load_bins(self) -> list[BinRecord]:
        """Every bin, ordered by id."""
        ...

    def list_pickups(self, *, open_only: bool = False) -> list[PickupRecord]:
        """Pickups, oldest request first."""
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

    def fill_history(self, bin_id: str) -> list[FillPoint]:
        """A bin's telemetry readings in ``seq`` order."""
        ...

    def stored_messages(self, bin_id: str) -> Iterator[StoredMessage]:
        """A bin's stored messages in ``seq`` order."""
        ...
