"""The ids of the remote commands a bin has already taken, in the agent database.

A QoS 1 redelivery (or one after a restart) must never run a command twice, so its id
is remembered before it runs (:class:`agent.remote.commands.RemoteCommands`).
"""

from __future__ import annotations

from agent.storage.localdb import LocalDb


class SeenCommands:
    """The ``commands_seen`` table: the newest command ids taken, oldest forgotten first."""

    def __init__(self, db: LocalDb) -> None:
        self.db = db

    def first_time(self, command_id: str, name: str, received_at: str, *, keep: int) -> bool:
        """Remember ``command_id`` durably, keeping the ``keep`` newest ids; False when it
        was already taken (nothing is changed then)."""
        with self.db.transaction() as tx:
            cursor = tx.execute(
                "INSERT OR IGNORE INTO commands_seen (id, name, received_at) VALUES (?, ?, ?)",
                (command_id, name, received_at),
            )
            if cursor.rowcount == 0:
                return False
            tx.execute(
                "DELETE FROM commands_seen WHERE rowid <= "
                "(SELECT MAX(rowid) FROM commands_seen) - ?",
                (keep,),
            )
        return True
