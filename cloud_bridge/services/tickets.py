"""Maintenance tickets: opened when a cause appears, updated in place, resolved when it clears.

There is at most one open ticket per bin and kind. When the causes or the severity of
an open ticket change (a second sensor fails, a fire joins a tamper alarm) it is
updated in place and published again under the same id; when every cause has
cleared it is resolved, for good: a new occurrence opens a new ticket with a new id.
Nobody closes a ticket by hand, so a ticket always says what the bin says.

The findings come from :mod:`cloud_bridge.domain.ticket_rules`. A batch re-evaluates the
bins whose presence, faults, alarms, health or configuration report it changed, once
per batch, so a fault raised and cleared within one batch opens nothing; the policy
tick re-evaluates every bin, which is when time-based causes (the offline grace, an
overdue configuration, a lasting backlog) open their tickets.

Every change is saved and queued (MQTT ``fleet/v1/tickets/{region}`` and the webhooks
that want tickets) in the transaction of the batch, tick or action that made it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import datetime

from cloud_bridge.clock import Clock
from cloud_bridge.config.settings import BridgeSettings
from cloud_bridge.config.tickets import TicketPolicy
from cloud_bridge.domain.fleet import Fleet
from cloud_bridge.domain.records import BinRecord, TicketRecord
from cloud_bridge.domain.ticket_rules import CONDITION_KINDS, Finding, backlog_in, findings
from cloud_bridge.services.notifier import Notifier
from cloud_bridge.store.protocols import Store
from protocol import encode, tickets_topic

logger = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 2000
"""A ticket's ``detail`` is clipped to this (it quotes the bins' own details)."""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


def ticket_id_for(bin_id: str, kind: str, occurrence: int, opened_at: datetime) -> str:
    """A ticket's id: new for every occurrence of a kind on a bin."""
    text = f"{bin_id}:{kind}:{occurrence}:{opened_at.isoformat()}"
    return "tk-" + hashlib.sha256(text.encode()).hexdigest()[:24]


class TicketService:
    """Keeps the open tickets in step with what the bins report."""

    def __init__(
        self,
        settings: BridgeSettings,
        store: Store,
        clock: Clock,
        fleet: Fleet,
        notifier: Notifier,
    ) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._fleet = fleet
        self._notifier = notifier
        self._open: dict[tuple[str, str], TicketRecord] = {}
        self._policies: dict[str, TicketPolicy] = {}

    def load(self, tickets: Iterable[TicketRecord]) -> None:
        """Take the open tickets from the store (at start, or after a rollback)."""
        self._open = {(t.bin_id, t.kind): t for t in tickets if t.open}

    def policy(self, region: str) -> TicketPolicy:
        """The thresholds in force in ``region``."""
        policy = self._policies.get(region)
        if policy is None:
            policy = self._policies[region] = self._settings.tickets.policy(region)
        return policy

    def open_tickets(self) -> list[TicketRecord]:
        """Every open ticket (for tests and views)."""
        return list(self._open.values())

    # -- bin messages -------------------------------------------------------------------

    def on_health(self, record: BinRecord, now: datetime) -> None:
        """Move the drift and backlog counters with the bin's newest health report."""
        health = record.health
        if health is None:
            return
        policy = self.policy(record.region)
        grams = health.tray_idle_g
        if grams is not None:
            if abs(grams) > policy.drift_bound_g:
                health.drift_over += 1
                health.drift_within = 0
                if health.drift_over >= policy.drift_reports:
                    health.drifting = True
            else:
                health.drift_within += 1
                health.drift_over = 0
                if health.drift_within >= policy.drift_reports:
                    health.drifting = False
        if backlog_in(record, policy):
            if health.backlog_since is None:
                health.backlog_since = now
        else:
            health.backlog_since = None

    # -- reconciling --------------------------------------------------------------------

    def evaluate(self, record: BinRecord, now: datetime | None = None) -> None:
        """Open, update or resolve the bin's tickets to match its findings now."""
        now = self._clock() if now is None else now
        wanted = findings(record, self.policy(record.region), now)
        for kind in CONDITION_KINDS:
            self.reconcile(record, kind, wanted.get(kind), now)

    def reconcile(
        self, record: BinRecord, kind: str, finding: Finding | None, now: datetime
    ) -> None:
        """Open, update or resolve the bin's ticket of ``kind`` to match ``finding``
        (None: the cause has cleared). :meth:`evaluate` does this for the kinds the
        bin's own reports decide; other services (the facility's inspections) call it
        for theirs."""
        ticket = self._open.get((record.bin_id, kind))
        if finding is not None and ticket is None:
            self._open_ticket(record, finding, now)
        elif finding is not None and ticket is not None:
            if (finding.severity, list(finding.causes)) != (ticket.severity, ticket.causes):
                ticket.severity = finding.severity
                ticket.causes = list(finding.causes)
                ticket.detail = _clip(finding.detail)
                logger.info(
                    "ticket %s (%s, bin %s) updated: %s",
                    ticket.ticket_id,
                    kind,
                    record.bin_id,
                    finding.detail,
                )
                self._publish(ticket, now)
        elif ticket is not None:
            ticket.status = "resolved"
            ticket.resolved_at = now
            del self._open[(record.bin_id, kind)]
            logger.info("ticket %s (%s, bin %s) resolved", ticket.ticket_id, kind, ticket.bin_id)
            self._publish(ticket, now)

    def tick(self) -> None:
        """Re-evaluate every bin (time-based causes open their tickets here)."""
        now = self._clock()
        for record in self._fleet.all():
            self.evaluate(record, now)

    def _open_ticket(self, record: BinRecord, finding: Finding, now: datetime) -> None:
        occurrence = self._store.count_tickets(record.bin_id, finding.kind) + 1
        ticket = TicketRecord(
            ticket_id=ticket_id_for(record.bin_id, finding.kind, occurrence, now),
            bin_id=record.bin_id,
            region=record.region,
            kind=finding.kind,
            severity=finding.severity,
            status="open",
            detail=_clip(finding.detail),
            causes=list(finding.causes),
            opened_at=now,
            ts=now,
        )
        self._open[(record.bin_id, finding.kind)] = ticket
        log = logger.warning if finding.severity != "info" else logger.info
        log(
            "ticket %s opened for bin %s: %s (%s): %s",
            ticket.ticket_id,
            record.bin_id,
            finding.kind,
            finding.severity,
            finding.detail,
        )
        self._publish(ticket, now)

    def _publish(self, ticket: TicketRecord, now: datetime) -> None:
        ticket.ts = now
        self._store.save_ticket(ticket)
        self._notifier.send(
            "ticket",
            ticket.region,
            tickets_topic(ticket.region),
            ticket.ticket_id,
            encode(ticket.message()),
        )
