"""Lifetimes of the remote commands technicians send to bins."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from cloud_bridge.config.base import DAY_S, Section


class CommandSettings(Section):
    """Lifetimes of remote commands."""

    default_ttl_s: float = Field(
        default=60.0, ge=1.0, le=7 * DAY_S, description="Lifetime of a command when none is given."
    )
    max_ttl_s: float = Field(
        default=DAY_S, ge=1.0, le=30 * DAY_S, description="Longest lifetime a caller may ask."
    )
    result_grace_s: float = Field(
        default=30.0,
        ge=0.0,
        le=3600.0,
        description="A command still unanswered this long after it expired is timed out "
        "(its answer may be on its way: a bin takes a command up to its expiry).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.default_ttl_s > self.max_ttl_s:
            raise ValueError(
                f"default_ttl_s ({self.default_ttl_s}) exceeds max_ttl_s ({self.max_ttl_s})"
            )
        return self
