"""Route planning: containers, service time, the solver's budget and each region's
depot and vehicles.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from cloud_bridge.config.base import BinId, Region, Section


class Depot(Section):
    """Where a region's vehicles start and end."""

    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)


class RouteRegion(Section):
    """A region's depot and vehicles."""

    depot: Depot
    vehicles: int = Field(default=3, ge=1, le=500, description="Vehicles available.")
    vehicle_volume_l: float = Field(
        default=10_000.0, gt=0.0, le=1e6, description="Load volume of each vehicle."
    )
    vehicle_kg: float = Field(default=3_000.0, gt=0.0, le=1e6, description="Payload of each.")
    speed_kmh: float = Field(default=30.0, gt=0.0, le=200.0, description="Average speed.")
    shift_hours: float = Field(
        default=10.0, gt=0.0, le=24.0, description="Length of a shift from the plan's start."
    )
    vehicle_cost_km: float = Field(
        default=50.0,
        ge=0.0,
        le=10_000.0,
        description=(
            "What sending out one more vehicle costs, in km of driving: a vehicle goes out "
            "only when capacity, the shift or due times need it."
        ),
    )
    overdue_within_hours: float | None = Field(
        default=None,
        gt=0.0,
        le=24.0,
        description=(
            "Overdue stops must be reached within this long after the plan's start (a "
            "time window, which the solver searches far faster than a cost per hour "
            "late); unset: as early as possible, at late_cost_km_per_hour."
        ),
    )
    late_cost_km_per_hour: float = Field(
        default=3.6,
        ge=0.0,
        le=100_000.0,
        description=(
            "What each hour an overdue stop waits costs, in km of driving: overdue stops "
            "come early in a route, without a vehicle of their own each."
        ),
    )


class RoutingSettings(Section):
    """Route planning: containers, service time, solver budget and the regions' fleets."""

    default_container_l: float = Field(
        default=240.0, gt=0.0, le=100_000.0, description="Container volume of a bin."
    )
    container_l: dict[BinId, float] = Field(
        default_factory=dict, description="Container volume per bin, where not the default."
    )
    service_minutes: float = Field(
        default=5.0, ge=0.0, le=240.0, description="Time spent at each stop."
    )
    time_limit_s: float = Field(
        default=5.0, gt=0.0, le=600.0, description="Time the solver may search."
    )
    regions: dict[Region, RouteRegion] = Field(
        default_factory=dict, description="Depot and vehicles of each region."
    )

    @field_validator("container_l")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        for bin_id, litres in value.items():
            if not 0 < litres <= 100_000:
                raise ValueError(f"container_l.{bin_id}: {litres} is not in (0, 100000]")
        return value

    def container_for(self, bin_id: str) -> float:
        """The container volume of ``bin_id`` in litres."""
        return self.container_l.get(bin_id, self.default_container_l)
