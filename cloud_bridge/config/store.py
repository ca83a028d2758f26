"""Where and how the bridge keeps its data (the SQLite file and its durability)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from cloud_bridge.config.base import Section


class StoreSettings(Section):
    """Where and how the bridge keeps its data."""

    path: Path = Field(default=Path("bridge.db"), description="SQLite database file.")
    synchronous: Literal["NORMAL", "FULL"] = Field(
        default="FULL",
        description=(
            "SQLite synchronous mode in WAL: NORMAL survives process crashes (a power "
            "loss can lose the last commits, which the broker then redelivers only if "
            "they were not yet acknowledged); FULL also survives power loss, slower."
        ),
    )

    wal_autocheckpoint_pages: int = Field(
        default=10_000,
        ge=100,
        le=1_000_000,
        description=(
            "WAL pages (4 KiB) after which a commit checkpoints into the database file; "
            "SQLite's default of 1,000 checkpoints (and syncs) every few batches."
        ),
    )
