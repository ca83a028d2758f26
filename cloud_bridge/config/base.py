"""The one base of every settings section, and the patterns several sections share.

Every section forbids unknown keys (a misspelt key is an error that names it) and is
frozen (settings do not change while the bridge runs); every number is bounded where
it is declared.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

REGION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]
"""A logistics region's name, as bins announce it."""

ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
"""The name of an environment variable holding a secret (secrets never live in the file)."""
EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME_PATTERN)]

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
"""The name of a webhook endpoint or of an API token's holder."""
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]

BIN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"
BinId = Annotated[str, StringConstraints(pattern=BIN_ID_PATTERN)]

DAY_S = 86_400.0
"""Seconds in a day, for the bounds of durations."""


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
