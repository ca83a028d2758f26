"""The storage contract of the receiving facilities: part of
:class:`~cloud_bridge.store.protocols.Store`.

Intakes, dispositions and inventory movements are written by the facility service on
the writer thread, in the transaction of the action that made them; they are only ever
added, never changed, so what a report sums is what was recorded. ``pickup_spans``
remembers which deposits each collected pickup took away, for traces from a deposit.
A store raises only :class:`~cloud_bridge.errors.StoreError` and its leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from cloud_bridge.domain.facility import (
    DispositionRecord,
    Intake,
    InventoryMovement,
    StockLevel,
)
from cloud_bridge.domain.records import DepositRow, PickupRecord


class FacilityStore(Protocol):
    """Intakes, dispositions, stock, and the deposits each collected pickup took."""

    def record_pickup_span(
        self, pickup_id: str, bin_id: str, after_seq: int, before_seq: int
    ) -> None:
        """Remember that the collected pickup took the deposits ``after_seq < seq < before_seq``."""
        ...

    def pickup_for_deposit(self, bin_id: str, seq: int) -> str | None:
        """The collected pickup that took deposit ``seq`` of ``bin_id``, if one did."""
        ...

    def get_deposit(self, bin_id: str, seq: int) -> DepositRow | None:
        """One stored deposit event by its bin and ``seq`` (a trace starts from it)."""
        ...

    def collected_pickups(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        region: str | None = None,
        bin_id: str | None = None,
    ) -> list[PickupRecord]:
        """Collected pickups whose ``closed_at`` is in ``[since, until)``, oldest first."""
        ...

    def add_intake(self, intake: Intake) -> None:
        """Store a load with its pickups and lines; its id taken already is a StoreConflict."""
        ...

    def get_intake(self, intake_id: str) -> Intake | None:
        """One load by its id."""
        ...

    def list_intakes(
        self,
        *,
        facility_id: str | None = None,
        bin_id: str | None = None,
        pickup_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Intake]:
        """Loads by ``received_at`` (then the order they were recorded), filtered by
        facility, a bin or pickup they hold, and a half-open range of ``received_at``."""
        ...

    def received_shares(self, pickup_ids: Sequence[str]) -> dict[str, float]:
        """The share of each pickup received so far (absent: none of it)."""
        ...

    def add_disposition(self, record: DispositionRecord) -> int:
        """Store a decision on part of a lot; return its new id (``disposition_id`` of
        ``record`` is ignored)."""
        ...

    def list_dispositions(
        self, *, intake_ids: Sequence[str] | None = None, facility_id: str | None = None
    ) -> list[DispositionRecord]:
        """Decisions in the order they were made, of the given lots or facility (or all)."""
        ...

    def add_movement(self, movement: InventoryMovement) -> int:
        """Store a stock movement; return its new id (``movement_id`` is ignored)."""
        ...

    def list_movements(
        self, *, facility_id: str | None = None, limit: int | None = None
    ) -> list[InventoryMovement]:
        """Stock movements, newest first."""
        ...

    def stock(self, facility_id: str | None = None) -> list[StockLevel]:
        """What each facility holds per category: the sums of its movements."""
        ...
