"""The door lock's state as the agent database holds it, read before the agent starts.

The lock output must start in the state the bin was left in (a locked bin stays locked
through a restart), so the hardware backend reads it here before it builds the drivers
and hands it to the lock driver (:class:`agent.hardware.drivers.outputs.LockSolenoid`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from agent.errors import StorageError
from agent.storage.localdb import LocalDb
from agent.storage.state import STATE_KEY

logger = logging.getLogger(__name__)


def persisted_lock_state(db_path: Path) -> bool:
    """Whether the bin's database says the intake door is locked, read before the agent
    opens it, so the lock output can start in that state.

    No database (a new bin) means unlocked. A database that exists but cannot be read
    means locked: fail secure until the agent, which will report the database fault,
    decides.
    """
    if not db_path.exists():
        return False
    try:
        db = LocalDb(db_path, readonly=True)
    except StorageError as err:
        logger.warning("lock starts locked: %s", err)
        return True
    try:
        # A query, not db.get: a read-only get hides an unreadable file as "no value".
        rows = db.query("SELECT value FROM meta WHERE key = ?", (STATE_KEY,))
        state = json.loads(rows[0][0]) if rows else None
    except (StorageError, ValueError) as err:
        logger.warning("lock starts locked: cannot read %s: %s", db_path, err)
        return True
    finally:
        db.close()
    if state is None:
        return False
    reasons = state.get("lock_reasons") if isinstance(state, dict) else None
    if not isinstance(reasons, list):
        logger.warning("lock starts locked: unexpected bin state in %s", db_path)
        return True
    return bool(reasons)
