"""Who and where a bin is: its id, region and location."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    StringConstraints,
)

from firmware_config.schema.base import BIN_ID_PATTERN, REGION_PATTERN, Section


class Location(Section):
    """Where the bin stands, for pickups and routes."""

    lat: float | None = Field(
        default=None, ge=-90.0, le=90.0, description="Latitude in degrees (WGS 84)."
    )
    lon: float | None = Field(
        default=None, ge=-180.0, le=180.0, description="Longitude in degrees (WGS 84)."
    )


class Identity(Section):
    """Who the bin is: its id is its MQTT client id and its certificate CN."""

    bin_id: Annotated[str, StringConstraints(pattern=BIN_ID_PATTERN)] = Field(
        description="Unique bin id, safe in topics and ACLs: ^[a-z0-9][a-z0-9-]{2,62}$."
    )
    region: Annotated[str, StringConstraints(pattern=REGION_PATTERN)] = Field(
        default="default", description="Logistics region; pickups are published per region."
    )
    location: Location = Field(default_factory=Location, description="Where the bin stands.")
