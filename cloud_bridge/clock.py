"""The bridge's notion of "now", injected so the simulator can run it on virtual time.

Everything the bridge dates itself (``last_seen``, a pickup's ``due_by`` and ``ts``)
comes from a :data:`Clock`; the timestamps inside bin messages are the bins' own and
are stored as they came.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""A callable returning the current time as an aware UTC datetime."""


def system_clock() -> datetime:
    """The machine's wall clock, UTC."""
    return datetime.now(UTC)
