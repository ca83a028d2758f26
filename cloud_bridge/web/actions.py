"""What the dashboard may ask of the running bridge when a user acts: the narrow part of
the engine's writer its forms use.

A protocol rather than the API's ``Actions``, so the dashboard does not import the API
or the engine (they sit side by side): inside ``bin-bridge run`` it is the engine's
:class:`~cloud_bridge.engine.bridge.Bridge` (the runtime hands it to
:func:`cloud_bridge.web.app.dashboard_mounter`), whose single writer carries the action
out between batches, exactly as for ``/v1``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from cloud_bridge.services.facility import FacilityService
from cloud_bridge.services.pickups import PickupService

_T = TypeVar("_T")


class WebActions(Protocol):
    """Changes the dashboard's forms hand to the bridge's single writer."""

    def pickups(self, action: Callable[[PickupService], _T]) -> _T:
        """Run a scheduler's ``action`` on the pickup service in a transaction; publish
        what it changed; return its result or raise its error."""
        ...

    def facility(self, action: Callable[[FacilityService], _T]) -> _T:
        """Run ``action`` on the facility service in a transaction; publish what it changed."""
        ...


__all__ = ["WebActions"]
