"""Receiving facilities: the sites that take the collected material in, and the rules
their findings are judged by (``[facilities]`` and ``[[facilities.sites]]``).

A site says where it stands, which regions' pickups it receives and which materials it
accepts; an intake at a site that does not accept a material is refused. The section
also holds the tolerance a weigh-in may differ from the pickups' manifests before it is
flagged, when contamination found at inspection makes a bin's camera or model suspect
(a ``classification_drift`` ticket), the prices that give recovered material its value,
and optionally a deployment's own emission factor file (the shipped one otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, StringConstraints, field_validator

from cloud_bridge.config.base import Region, Section

FACILITY_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
FacilityId = Annotated[str, StringConstraints(pattern=FACILITY_ID_PATTERN)]
"""A facility's id, as intakes, tokens and reports name it."""

Material = Literal["cardboard", "glass", "metal", "paper", "plastic", "trash", "unknown"]
"""A material category: the bins' own categories (:data:`protocol.Category`)."""
MATERIALS: tuple[str, ...] = get_args(Material)


def _every_material() -> list[Material]:
    return ["cardboard", "glass", "metal", "paper", "plastic", "trash"]


Disposition = Literal["reuse", "repair", "recycle", "recover", "dispose"]
"""What a lot's material becomes, best first (the EU waste hierarchy, Directive
2008/98/EC, Article 4): prepared for re-use as it is, or after repair or refurbishment;
recycled; recovered (energy); disposed of."""
DISPOSITIONS: tuple[str, ...] = get_args(Disposition)


class Coordinates(Section):
    """Where a facility stands (WGS 84)."""

    lat: float = Field(ge=-90.0, le=90.0, description="Latitude in degrees.")
    lon: float = Field(ge=-180.0, le=180.0, description="Longitude in degrees.")


class FacilitySite(Section):
    """One receiving facility: where it is, whom it serves, what it accepts."""

    id: FacilityId = Field(description="The facility's id.")
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Its name, for people."
    )
    location: Coordinates = Field(description="Where it stands.")
    address: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        default=None, description="Its postal address, for the report."
    )
    regions: list[Region] = Field(
        default_factory=list,
        description="The regions whose pickups it receives (empty: every region).",
    )
    materials: list[Material] = Field(
        default_factory=_every_material,
        min_length=1,
        description="The material categories it accepts.",
    )

    def serves(self, region: str) -> bool:
        """Whether pickups of ``region`` may be received here."""
        return not self.regions or region in self.regions


class MaterialPrices(Section):
    """What one kg of a material is worth per disposition (negative: a cost, e.g. a gate
    fee); a disposition left out is worth nothing."""

    reuse: float | None = Field(default=None, ge=-1e6, le=1e6, allow_inf_nan=False)
    repair: float | None = Field(default=None, ge=-1e6, le=1e6, allow_inf_nan=False)
    recycle: float | None = Field(default=None, ge=-1e6, le=1e6, allow_inf_nan=False)
    recover: float | None = Field(default=None, ge=-1e6, le=1e6, allow_inf_nan=False)
    dispose: float | None = Field(default=None, ge=-1e6, le=1e6, allow_inf_nan=False)

    def per_kg(self, disposition: str) -> float:
        """The price of a kg under ``disposition`` (0 when not set)."""
        value: float | None = getattr(self, disposition)
        return 0.0 if value is None else value


class FacilitySettings(Section):
    """The receiving facilities and how their weigh-ins and inspections are judged."""

    sites: list[FacilitySite] = Field(default_factory=list, description="The facilities.")
    tolerance_pct: float = Field(
        default=10.0,
        ge=0.0,
        le=1000.0,
        allow_inf_nan=False,
        description="A category received more than this % off what the manifests declared "
        "is flagged (and only when it is also tolerance_kg off).",
    )
    tolerance_kg: float = Field(
        default=1.0,
        ge=0.0,
        le=100_000.0,
        allow_inf_nan=False,
        description="Differences of at most this many kg are never flagged (scales and "
        "a few items' weights); material nobody declared beyond it is.",
    )
    contamination_threshold_pct: float = Field(
        default=10.0,
        gt=0.0,
        le=100.0,
        allow_inf_nan=False,
        description="A bin whose contamination rate over its last contamination_intakes "
        "intakes is above this opens classification_drift; at or below, it resolves.",
    )
    contamination_intakes: int = Field(
        default=3,
        ge=1,
        le=100,
        description="How many of a bin's most recent intakes its contamination rate spans "
        "(no ticket before it has that many).",
    )
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = Field(
        default="EUR", description="The currency of prices (ISO 4217)."
    )
    prices: dict[str, MaterialPrices] = Field(
        default_factory=dict, description="Price per kg of each material per disposition."
    )
    emission_factors: Path | None = Field(
        default=None,
        description="A TOML file of emission factors replacing the shipped set (relative "
        "to the settings file).",
    )

    @field_validator("sites")
    @classmethod
    def _unique_ids(cls, sites: list[FacilitySite]) -> list[FacilitySite]:
        ids = [site.id for site in sites]
        repeated = sorted({site_id for site_id in ids if ids.count(site_id) > 1})
        if repeated:
            raise ValueError(f"facility ids must be unique, repeated: {', '.join(repeated)}")
        return sites

    @field_validator("prices")
    @classmethod
    def _materials(cls, prices: dict[str, MaterialPrices]) -> dict[str, MaterialPrices]:
        unknown = sorted(set(prices) - set(MATERIALS))
        if unknown:
            raise ValueError(
                f"unknown material {', '.join(unknown)}; the materials are {', '.join(MATERIALS)}"
            )
        return prices

    def site(self, facility_id: str) -> FacilitySite | None:
        """The facility called ``facility_id``, if there is one."""
        return next((site for site in self.sites if site.id == facility_id), None)

    def price(self, material: str, disposition: str) -> float:
        """The price of a kg of ``material`` under ``disposition`` (0 when not set)."""
        prices = self.prices.get(material)
        return 0.0 if prices is None else prices.per_kg(disposition)
