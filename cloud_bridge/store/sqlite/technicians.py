"""The technicians' tables in SQLite: tickets, remote commands, pushed configurations.

A mixin of :class:`~cloud_bridge.store.sqlite.store.SQLiteStore` (see
:class:`cloud_bridge.store.protocols.TechnicianStore`). The writer saves rows in the
transaction of the batch, tick or action that changed them; the API and the CLI read
them through read-only connections.
"""

from __future__ import annotations

import json
from typing import Any

from cloud_bridge.domain.records import CommandRecord, DesiredConfig, TicketRecord
from cloud_bridge.store.sqlite.connection import Connection
from cloud_bridge.store.sqlite.timestamps import dt, fmt, ts
from protocol import parse_ts

_TICKET_COLUMNS = (
    "ticket_id, bin_id, region, kind, severity, status, detail, causes, opened_at, ts, resolved_at"
)
_COMMAND_COLUMNS = (
    "command_id, bin_id, name, args, issued_at, expires_at, actor, status, result, error, "
    "answered_at, timed_out_at"
)


def _ticket(row: Any) -> TicketRecord:
    (ident, bin_id, region, kind, severity, status, detail, causes, opened, at, resolved) = row
    return TicketRecord(
        ticket_id=ident,
        bin_id=bin_id,
        region=region,
        kind=kind,
        severity=severity,
        status=status,
        detail=detail,
        causes=list(json.loads(causes)),
        opened_at=parse_ts(opened),
        ts=parse_ts(at),
        resolved_at=dt(resolved),
    )


def _command(row: Any) -> CommandRecord:
    (ident, bin_id, name, args, issued, expires, actor, status, result, error, answered,
     gave_up) = row  # fmt: skip
    return CommandRecord(
        command_id=ident,
        bin_id=bin_id,
        name=name,
        args=json.loads(args),
        issued_at=parse_ts(issued),
        expires_at=parse_ts(expires),
        actor=actor,
        status=status,
        result=None if result is None else json.loads(result),
        error=error,
        answered_at=dt(answered),
        timed_out_at=dt(gave_up),
    )


class TechnicianTablesMixin:
    """SQL of the ``tickets``, ``commands`` and ``config_desired`` tables."""

    _db: Connection

    # -- tickets ------------------------------------------------------------------------

    def save_ticket(self, ticket: TicketRecord) -> None:
        """Insert or update by ``ticket_id``; a second open ticket of a bin and kind is an error."""
        t = ticket
        values = (
            t.ticket_id,
            t.bin_id,
            t.region,
            t.kind,
            t.severity,
            t.status,
            t.detail,
            json.dumps(t.causes),
            fmt(t.opened_at),
            fmt(t.ts),
            ts(t.resolved_at),
        )
        self._db.execute(
            f"INSERT INTO tickets ({_TICKET_COLUMNS}) VALUES ({', '.join('?' * len(values))}) "
            "ON CONFLICT (ticket_id) DO UPDATE SET severity = excluded.severity, "
            "status = excluded.status, detail = excluded.detail, causes = excluded.causes, "
            "ts = excluded.ts, resolved_at = excluded.resolved_at, region = excluded.region",
            values,
        )

    def get_ticket(self, ticket_id: str) -> TicketRecord | None:
        """One ticket by id."""
        row = self._db.execute(
            f"SELECT {_TICKET_COLUMNS} FROM tickets WHERE ticket_id = ?", (ticket_id,)
        ).fetchone()
        return None if row is None else _ticket(row)

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
        """Tickets, oldest opened first, filtered by what is given."""
        where: list[str] = []
        args: list[object] = []
        if open_only:
            where.append("status = 'open'")
        for column, value in (("status", status), ("region", region), ("bin_id", bin_id),
                              ("kind", kind)):  # fmt: skip
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {_TICKET_COLUMNS} FROM tickets"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY opened_at, ticket_id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [_ticket(row) for row in self._db.execute(sql, args)]

    def count_tickets(self, bin_id: str, kind: str) -> int:
        """How many tickets of ``kind`` the bin has ever had (for new tickets' ids)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM tickets WHERE bin_id = ? AND kind = ?", (bin_id, kind)
        ).fetchone()
        return int(row[0])

    # -- commands -----------------------------------------------------------------------

    def save_command(self, command: CommandRecord) -> None:
        """Insert or replace a command and its outcome."""
        c = command
        values = (
            c.command_id,
            c.bin_id,
            c.name,
            json.dumps(c.args),
            fmt(c.issued_at),
            fmt(c.expires_at),
            c.actor,
            c.status,
            None if c.result is None else json.dumps(c.result),
            c.error,
            ts(c.answered_at),
            ts(c.timed_out_at),
        )
        self._db.execute(
            f"INSERT OR REPLACE INTO commands ({_COMMAND_COLUMNS}) "
            f"VALUES ({', '.join('?' * len(values))})",
            values,
        )

    def get_command(self, command_id: str) -> CommandRecord | None:
        """One command by id."""
        row = self._db.execute(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE command_id = ?", (command_id,)
        ).fetchone()
        return None if row is None else _command(row)

    def list_commands(
        self,
        *,
        bin_id: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[CommandRecord]:
        """Commands, newest first."""
        where: list[str] = []
        args: list[object] = []
        for column, value in (("bin_id", bin_id), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = f"SELECT {_COMMAND_COLUMNS} FROM commands"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY issued_at DESC, command_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [_command(row) for row in self._db.execute(sql, args)]

    # -- pushed configurations ----------------------------------------------------------

    def save_desired(self, desired: DesiredConfig) -> None:
        """Record one pushed version (versions only go up, so a repeat is an error)."""
        self._db.execute(
            "INSERT INTO config_desired (bin_id, version, config, issued_at, actor) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                desired.bin_id,
                desired.version,
                json.dumps(desired.config),
                fmt(desired.issued_at),
                desired.actor,
            ),
        )

    def get_desired(self, bin_id: str, version: int | None = None) -> DesiredConfig | None:
        """The bin's pushed configuration ``version`` (the newest when None)."""
        sql = (
            "SELECT bin_id, version, config, issued_at, actor FROM config_desired WHERE bin_id = ?"
        )
        args: list[object] = [bin_id]
        if version is not None:
            sql += " AND version = ?"
            args.append(version)
        row = self._db.execute(sql + " ORDER BY version DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        bin_id, version, config, issued, actor = row
        return DesiredConfig(
            bin_id=bin_id,
            version=version,
            config=json.loads(config),
            issued_at=parse_ts(issued),
            actor=actor,
        )
