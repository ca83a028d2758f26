"""What the programme achieved, as sums: kg collected and received, what the material
became, the diversion and contamination rates, km driven, and the CO2e avoided by
reuse, recycling and recovery against landfilling, less the trucks' emissions.

Pure arithmetic over rows the views gather (:mod:`cloud_bridge.views.impact`) and an
emission :class:`FactorSet` (parsed here from the mapping of a factor file; the shipped
file is ``cloud_bridge/domain/data/emission_factors.toml``). Every figure is in kg (and
CO2e in kg CO2e). The diversion rate is the share of the kg with a disposition that was
not disposed of; material still awaiting review is ``pending`` and counts for neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloud_bridge.config.facilities import DISPOSITIONS

PATHWAY: dict[str, str] = {
    "reuse": "source_reduction",
    "repair": "source_reduction",
    "recycle": "recycling",
    "recover": "combustion",
    "dispose": "landfilling",
}
"""Which pathway of a factor set each disposition takes its emissions from."""
PATHWAYS = ("source_reduction", "recycling", "combustion", "landfilling")


@dataclass(frozen=True, slots=True)
class MaterialFactors:
    """One material's net emissions per pathway, in kg CO2e per tonne."""

    per_tonne: dict[str, float]
    label: str = ""

    def avoided_kg(self, disposition: str, kg: float) -> float:
        """kg CO2e that ``kg`` under ``disposition`` avoids compared with landfilling."""
        landfill = self.per_tonne["landfilling"]
        return kg / 1000.0 * (landfill - self.per_tonne[PATHWAY[disposition]])


@dataclass(frozen=True, slots=True)
class FactorSet:
    """A named, versioned set of emission factors, as the report cites it."""

    name: str
    version: str
    source: str
    url: str | None
    truck_kg_per_km: float
    truck_source: str
    materials: dict[str, MaterialFactors]

    def for_material(self, material: str) -> MaterialFactors:
        """The factors of ``material`` (``unknown``'s, then ``trash``'s, where it has none)."""
        for name in (material, "unknown", "trash"):
            if name in self.materials:
                return self.materials[name]
        raise KeyError(f"the factor set {self.name!r} has no factors for {material!r}")


def _text(data: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}.{key}: a non-empty string is needed")
    return value


def _number(data: Mapping[str, Any], key: str, where: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValueError(f"{where}.{key}: a number is needed")
    if abs(value) > 1e7:
        raise ValueError(f"{where}.{key}: {value} is out of range")
    return float(value)


def parse_factor_set(data: Mapping[str, Any]) -> FactorSet:
    """A factor set from the mapping of a factor file; ValueError names a bad key."""
    head = data.get("factor_set")
    truck = data.get("truck")
    materials = data.get("materials")
    for key, value in (("factor_set", head), ("truck", truck), ("materials", materials)):
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: a table is needed")
    assert isinstance(head, Mapping)
    assert isinstance(truck, Mapping)
    assert isinstance(materials, Mapping)
    parsed: dict[str, MaterialFactors] = {}
    for material, figures in materials.items():
        where = f"materials.{material}"
        if not isinstance(figures, Mapping):
            raise ValueError(f"{where}: a table is needed")
        parsed[material] = MaterialFactors(
            per_tonne={pathway: _number(figures, pathway, where) for pathway in PATHWAYS},
            label=_text(figures, "warm_material", where, required=False),
        )
    if not parsed:
        raise ValueError("materials: no material has factors")
    per_km = _number(truck, "kg_co2e_per_km", "truck")
    if per_km < 0:
        raise ValueError("truck.kg_co2e_per_km: must not be negative")
    return FactorSet(
        name=_text(head, "name", "factor_set"),
        version=_text(head, "version", "factor_set"),
        source=_text(head, "source", "factor_set"),
        url=_text(head, "url", "factor_set", required=False) or None,
        truck_kg_per_km=per_km,
        truck_source=_text(truck, "source", "truck"),
        materials=parsed,
    )


@dataclass(slots=True)
class Figures:
    """The sums of one material, or of all of them."""

    kg_collected: float = 0.0
    """What the bins declared in the pickups collected in the period."""
    kg_received: float = 0.0
    kg_contaminated: float = 0.0
    kg_by_disposition: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(DISPOSITIONS, 0.0)
    )
    value: float = 0.0
    co2e_avoided_kg: float = 0.0

    @property
    def kg_decided(self) -> float:
        """Received kg with a disposition."""
        return sum(self.kg_by_disposition.values())

    @property
    def kg_pending(self) -> float:
        """Received kg still awaiting review (never below 0)."""
        return max(0.0, self.kg_received - self.kg_decided)

    @property
    def diversion_rate_pct(self) -> float | None:
        """Share of the decided kg not disposed of; None before any decision."""
        decided = self.kg_decided
        if decided <= 0:
            return None
        return 100.0 * (decided - self.kg_by_disposition["dispose"]) / decided

    @property
    def contamination_rate_pct(self) -> float | None:
        """Contaminated kg over received kg; None when nothing was received."""
        if self.kg_received <= 0:
            return None
        return 100.0 * self.kg_contaminated / self.kg_received


@dataclass(slots=True)
class Impact:
    """The report's sums: totals, each material, and the haul."""

    totals: Figures
    materials: dict[str, Figures]
    collections: int
    km_driven: float
    km_estimated: float
    """Of ``km_driven``, the km estimated rather than measured."""
    truck_co2e_kg: float

    @property
    def net_co2e_avoided_kg(self) -> float:
        """CO2e avoided by what the material became, less what the trucks emitted."""
        return self.totals.co2e_avoided_kg - self.truck_co2e_kg


def summarize(
    *,
    collected: Iterable[Mapping[str, float]],
    received: Iterable[tuple[str, float, float]],
    outcomes: Iterable[tuple[str, str, float, float]],
    km: Iterable[tuple[float, bool]],
    factors: FactorSet,
) -> Impact:
    """Sum the rows of a period (already filtered and apportioned by the caller).

    ``collected``: each collected pickup's declared kg per material; ``received``:
    (material, kg, contaminated kg); ``outcomes``: (material, disposition, kg, value);
    ``km``: (km, estimated) per load.
    """
    materials: dict[str, Figures] = {}

    def of(material: str) -> Figures:
        return materials.setdefault(material, Figures())

    collections = 0
    for pickup in collected:
        collections += 1
        for material, kg in pickup.items():
            of(material).kg_collected += kg
    for material, kg, bad in received:
        figures = of(material)
        figures.kg_received += kg
        figures.kg_contaminated += bad
    for material, disposition, kg, value in outcomes:
        figures = of(material)
        figures.kg_by_disposition[disposition] += kg
        figures.value += value
        figures.co2e_avoided_kg += factors.for_material(material).avoided_kg(disposition, kg)
    totals = Figures()
    for figures in materials.values():
        totals.kg_collected += figures.kg_collected
        totals.kg_received += figures.kg_received
        totals.kg_contaminated += figures.kg_contaminated
        for disposition, kg in figures.kg_by_disposition.items():
            totals.kg_by_disposition[disposition] += kg
        totals.value += figures.value
        totals.co2e_avoided_kg += figures.co2e_avoided_kg
    driven = estimated = 0.0
    for distance, is_estimate in km:
        driven += distance
        if is_estimate:
            estimated += distance
    return Impact(
        totals=totals,
        materials=dict(sorted(materials.items())),
        collections=collections,
        km_driven=driven,
        km_estimated=estimated,
        truck_co2e_kg=driven * factors.truck_kg_per_km,
    )
