"""Accepting a re-flashed bin: ``bin-bridge bin reset``.

A bin whose database was wiped (a new SD card, a re-flash) starts its ``seq`` counter
again. The bridge rejects what then collides with stored messages as ``seq_reused``
rather than dropping it as a duplicate. A technician who knows the bin was re-flashed
records a reset in the bridge's database; the running bridge applies it at its next
policy tick (or a stopped one when it starts), and from then on stores the bin's
messages under ``seq + offset`` (see :class:`~cloud_bridge.store.protocols.SeqReset`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cloud_bridge.errors import NotFound
from cloud_bridge.store import open_store
from cloud_bridge.store.protocols import SeqReset
from protocol.topics import valid_bin_id


def request_seq_reset(path: Path | str, bin_id: str, *, actor: str, now: datetime) -> SeqReset:
    """Record a reset of ``bin_id`` in the database at ``path``; return the request.

    Works while the bridge runs (SQLite serialises the two writers). Refuses a
    database that does not exist and a bin the bridge has never heard from, so a typo
    is not recorded.
    """
    if not valid_bin_id(bin_id):
        raise NotFound(f"{bin_id!r} is not a valid bin id", field="bin_id")
    store = open_store(path, must_exist=True)
    try:
        if store.get_bin(bin_id) is None:
            raise NotFound(f"bin {bin_id} is not known to the bridge at {path}", field="bin_id")
        with store.transaction():
            reset_id = store.request_seq_reset(bin_id, now, actor)
        (request,) = [r for r in store.list_seq_resets(bin_id=bin_id) if r.reset_id == reset_id]
        return request
    finally:
        store.close()
