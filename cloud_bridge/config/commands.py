"""Lifetimes of the remote commands technicians send to bins.

The one rule for a command's lifetime lives here (:func:`ttl_problem`): the service
that sends a command, the API that takes one and ``bin-bridge cmd --ttl`` all apply
it, against the running bridge's ``commands.max_ttl_s`` (the CLI, which does not know
that setting, checks the rest and lets the bridge judge the maximum).
"""

from __future__ import annotations

import math
from typing import Self

from pydantic import Field, model_validator

from cloud_bridge.config.base import DAY_S, Section

MIN_TTL_S = 1.0
"""The shortest lifetime a command may have."""
TTL_CAP_S = 30 * DAY_S
"""The longest ``commands.max_ttl_s`` a bridge may be configured with."""


def ttl_problem(ttl_s: float, max_ttl_s: float | None) -> str | None:
    """Why ``ttl_s`` is not a lifetime the bridge takes, or None when it is.

    ``max_ttl_s`` is the bridge's ``commands.max_ttl_s``; None where it is not known
    (the CLI), so that only finiteness and the minimum are checked.
    """
    too_long = max_ttl_s is not None and ttl_s > max_ttl_s
    if math.isfinite(ttl_s) and ttl_s >= MIN_TTL_S and not too_long:
        return None
    most = "commands.max_ttl_s" if max_ttl_s is None else f"{max_ttl_s:g} s (commands.max_ttl_s)"
    return f"a command's lifetime must be between {MIN_TTL_S:g} s and {most}, not {ttl_s:g}"


class CommandSettings(Section):
    """Lifetimes of remote commands."""

    default_ttl_s: float = Field(
        default=60.0,
        ge=MIN_TTL_S,
        le=7 * DAY_S,
        description="Lifetime of a command when none is given.",
    )
    max_ttl_s: float = Field(
        default=DAY_S, ge=MIN_TTL_S, le=TTL_CAP_S, description="Longest lifetime a caller may ask."
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
