"""The writer thread's periodic policy tick (escalation, forecasts) and its poll."""

from __future__ import annotations

from pydantic import Field

from cloud_bridge.config.base import Section


class TimerSettings(Section):
    """The periodic tick of the writer thread, on the bridge's clock."""

    tick_s: float = Field(
        default=60.0,
        gt=0.0,
        le=3600.0,
        description="Bridge-clock seconds between policy ticks (escalation, forecasts).",
    )
    poll_s: float = Field(
        default=1.0,
        gt=0.0,
        le=60.0,
        description="Real seconds the writer waits for messages before it looks at the clock.",
    )
