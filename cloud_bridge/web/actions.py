"""What the dashboard may ask of the running bridge: the narrow part of the engine's
writer its recording pages use.

The engine's :class:`~cloud_bridge.engine.bridge.Bridge` satisfies it (the runtime
hands it to :func:`cloud_bridge.web.app.dashboard_mounter`); the dashboard never
imports the API or the engine, so it states here the one method it calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from cloud_bridge.services.facility import FacilityService

_T = TypeVar("_T")


class WebActions(Protocol):
    """Changes the dashboard's forms hand to the bridge's single writer."""

    def facility(self, action: Callable[[FacilityService], _T]) -> _T:
        """Run ``action`` on the facility service in a transaction; publish what it changed."""
        ...


__all__ = ["WebActions"]
