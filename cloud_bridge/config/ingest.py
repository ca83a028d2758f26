"""How received messages are written: batch size, queue bound, retries, rejection logs."""

from __future__ import annotations

from pydantic import Field

from cloud_bridge.config.base import Section


class IngestSettings(Section):
    """How received messages are written."""

    batch_max: int = Field(
        default=1000, ge=1, le=100_000, description="Most messages committed in one transaction."
    )
    queue_max: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description=(
            "Most received messages waiting for the writer. Beyond it QoS 0 messages are "
            "dropped and counted as 'overload' (a flood cannot exhaust memory); QoS 1 "
            "messages are bounded by the broker's in-flight window instead."
        ),
    )
    retry_delay_s: float = Field(
        default=1.0, ge=0.01, le=300.0, description="Wait before retrying a failed commit."
    )
    rejection_logs_per_minute: int = Field(
        default=20,
        ge=0,
        le=10_000,
        description="Most rejection warnings logged per reason per minute (the rest are counted).",
    )
