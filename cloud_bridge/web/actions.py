"""What the dashboard asks of the running bridge when a user acts.

A protocol rather than the API's ``Actions``, so the dashboard does not import the API
(they sit side by side): inside ``bin-bridge run`` it is the engine's bridge, whose
single writer carries the action out between batches, exactly as for ``/v1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from cloud_bridge.services.pickups import PickupService

_T = TypeVar("_T")


class PickupActions(Protocol):
    """Runs a scheduler's action on the pickup service in a transaction and publishes
    what it changed."""

    def pickups(self, action: Callable[[PickupService], _T]) -> _T:
        """Run ``action`` on the pickup service; return its result or raise its error."""
        ...
