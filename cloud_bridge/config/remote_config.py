"""What the bridge does with desired configurations it finds on the broker but never issued."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cloud_bridge.config.base import Section

UnknownDesired = Literal["adopt", "clear"]


class RemoteConfigSettings(Section):
    """Remote configuration: retained ``config/desired`` messages the bridge has no record of.

    A fresh database (or one restored from an older backup, or a second bridge on the
    same broker) meets retained desired configurations it did not push. ``adopt`` (the
    default) records each as the bin's desired configuration, version kept, so the bin
    is not silently reconfigured and later pushes continue above it; ``clear`` removes
    it from the broker (an empty retained message), so a bin that has not applied it yet
    never will.
    """

    unknown_desired: UnknownDesired = Field(
        default="adopt",
        description="adopt: record a retained desired configuration the bridge has no "
        "record of (version kept); clear: delete it from the broker.",
    )
