"""Request and response bodies of the facility routes (intakes, dispositions, stock,
traces, the impact report), so the OpenAPI document says what each takes and returns.

The responses describe the rows of :mod:`cloud_bridge.views.facility` and
:mod:`cloud_bridge.views.impact` key for key, like :mod:`cloud_bridge.api.schemas` does
for the other routes. Every weight is in kg: a negative, infinite or NaN value is a 422
naming the field, before anything reaches the bridge.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from cloud_bridge.api.schemas import BinId, Deposit, Manifest, PickupId, Region, ResponseModel
from cloud_bridge.api.schemas import Point as Coordinates
from cloud_bridge.api.schemas import Timestamp as Time
from cloud_bridge.config.facilities import Disposition, Material
from protocol import PickupStatus

Kg = Annotated[float, Field(ge=0.0, le=1e9, allow_inf_nan=False, description="kg (>= 0).")]
IntakeId = Annotated[str, Field(description="The intake's (lot's) id.")]
FacilityId = Annotated[str, Field(description="The facility's id.")]
Category = Annotated[Material, Field(description="The material category.")]
Note = Annotated[str, StringConstraints(max_length=500)]
Pct = Annotated[float | None, Field(description="In %; null where it has no denominator.")]


class RequestModel(BaseModel):
    """Base of the request bodies: an unknown key is a 422 naming it."""

    model_config = ConfigDict(extra="forbid")


class PickupPartBody(RequestModel):
    """A pickup in the load."""

    pickup_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = Field(
        description="A collected pickup."
    )
    share: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="The fraction of the pickup in this load, when it was split over loads "
        "(default: all of it that is not received yet).",
    )


class LineBody(RequestModel):
    """The weigh-in of one category."""

    category: Material = Field(description="The material category weighed.")
    kg: Kg
    count: int | None = Field(default=None, ge=0, le=10**9, description="Items, if counted.")
    contaminated_kg: float = Field(
        default=0.0,
        ge=0.0,
        le=1e9,
        allow_inf_nan=False,
        description="Of kg, what inspection found was not this material.",
    )


class IntakeBody(RequestModel):
    """A load received at a facility."""

    facility_id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = Field(
        description="Where it was received."
    )
    pickups: list[PickupPartBody] = Field(
        min_length=1, max_length=500, description="The pickups in the load."
    )
    lines: list[LineBody] = Field(
        min_length=1, max_length=50, description="The weigh-in per category."
    )
    received_at: AwareDatetime | None = Field(
        default=None, description="When it was received (default: now)."
    )
    distance_km: float | None = Field(
        default=None,
        ge=0.0,
        le=100_000.0,
        allow_inf_nan=False,
        description="km driven for the load (default: estimated from the bins' locations).",
    )
    note: Note | None = Field(default=None, description="For the record.")


class DispositionBody(RequestModel):
    """What part of a lot's category becomes."""

    category: Material = Field(description="The category of the lot.")
    disposition: Disposition = Field(
        description="reuse, repair, recycle, recover or dispose (EU waste hierarchy order)."
    )
    kg: float = Field(gt=0.0, le=1e9, allow_inf_nan=False, description="kg (> 0).")
    count: int | None = Field(default=None, ge=0, le=10**9, description="Items, if counted.")
    grade: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="A quality grade (e.g. A, B, C)."
    )
    note: Note | None = Field(default=None, description="Why (returned because ...).")
    restock: bool = Field(
        default=False, description="Put the goods into the facility's stock (reuse, repair)."
    )


class MovementBody(RequestModel):
    """Goods into (kg > 0) or out of (kg < 0) stock."""

    category: Material = Field(description="The material category.")
    kg: float = Field(ge=-1e9, le=1e9, allow_inf_nan=False, description="kg in (+) or out (-).")
    count: int | None = Field(default=None, ge=-(10**9), le=10**9, description="Items in or out.")
    reason: Literal["restock", "issue", "adjust"] | None = Field(
        default=None,
        description="restock, issue (given out, sold) or adjust (default: issue "
        "when kg < 0, else adjust).",
    )
    note: Note | None = Field(default=None, description="For the record.")


# -- responses --------------------------------------------------------------------------------


class Facility(ResponseModel):
    """A receiving facility, as the settings describe it."""

    facility_id: FacilityId
    name: str = Field(description="Its name.")
    location: Coordinates = Field(description="Where it stands.")
    address: str | None = Field(description="Its address.")
    regions: list[str] = Field(description="The regions it serves (empty: every region).")
    materials: list[str] = Field(description="The categories it accepts.")


class IntakePickupRow(ResponseModel):
    """A pickup in a load."""

    pickup_id: PickupId
    bin_id: BinId
    region: Region
    share: float = Field(description="The fraction of the pickup in this load.")


class ReconciledLineRow(ResponseModel):
    """One category of a load against what the manifests declared."""

    category: str = Field(description="The material category.")
    declared_kg: float = Field(description="What the manifests declared (their shares).")
    received_kg: float = Field(description="What was weighed.")
    diff_kg: float = Field(description="received_kg - declared_kg.")
    diff_pct: Pct
    declared_count: float = Field(description="Items the manifests declared.")
    received_count: int | None = Field(description="Items counted, if counted.")
    contaminated_kg: float = Field(description="Found not to be this material.")
    contamination_pct: Pct
    flagged: bool = Field(description="Beyond the settings' tolerance.")
    decided_kg: float = Field(description="kg with a disposition.")
    pending_kg: float = Field(description="kg awaiting review.")


class DispositionRow(ResponseModel):
    """A decision on part of a lot."""

    disposition_id: int = Field(description="The decision's id.")
    intake_id: IntakeId
    facility_id: FacilityId
    category: str = Field(description="The material category.")
    disposition: str = Field(description="reuse, repair, recycle, recover or dispose.")
    kg: float = Field(description="kg.")
    count: int | None = Field(description="Items, if counted.")
    grade: str | None = Field(description="A quality grade.")
    note: str | None = Field(description="Why.")
    value: float = Field(description="kg times the material's price for the disposition.")
    decided_at: Time = Field(description="When it was decided.")
    actor: str = Field(description="The token that recorded it.")


class IntakeRow(ResponseModel):
    """A load with its reconciliation and the decisions on it so far."""

    intake_id: IntakeId
    facility_id: FacilityId
    received_at: Time = Field(description="When it was received.")
    recorded_at: Time = Field(description="When it was recorded.")
    actor: str = Field(description="The token that recorded it.")
    note: str | None = Field(description="The note given.")
    distance_km: float | None = Field(description="km driven for the load.")
    distance_estimated: bool = Field(description="Whether distance_km is an estimate.")
    pickups: list[IntakePickupRow] = Field(description="The pickups in the load.")
    declared_kg: float = Field(description="What the manifests declared (their shares).")
    received_kg: float = Field(description="What was weighed.")
    flagged: bool = Field(description="Whether any category is beyond the tolerance.")
    lines: list[ReconciledLineRow] = Field(description="Per category.")
    dispositions: list[DispositionRow] = Field(description="Decisions on the lot.")


class MovementRow(ResponseModel):
    """A stock movement."""

    movement_id: int = Field(description="The movement's id.")
    facility_id: FacilityId
    category: str = Field(description="The material category.")
    kg: float = Field(description="kg in (+) or out (-).")
    count: int | None = Field(description="Items in or out.")
    reason: str = Field(description="restock, issue or adjust.")
    intake_id: str | None = Field(description="The lot restocked from.")
    disposition_id: int | None = Field(description="The decision that restocked it.")
    at: Time = Field(description="When.")
    actor: str = Field(description="The token that recorded it.")
    note: str | None = Field(description="The note given.")


class DispositionResult(ResponseModel):
    """A decision recorded, and the stock movement it made (when restocked)."""

    disposition: DispositionRow = Field(description="The decision.")
    movement: MovementRow | None = Field(description="The restock; null when not restocked.")


class StockRow(ResponseModel):
    """What a facility holds of one category."""

    facility_id: FacilityId
    category: str = Field(description="The material category.")
    kg: float = Field(description="kg held.")
    count: int = Field(description="Items held (as counted in).")


class Inventory(ResponseModel):
    """A facility's stock of recovered goods and its newest movements."""

    facility_id: FacilityId
    stock: list[StockRow] = Field(description="Per category.")
    movements: list[MovementRow] = Field(description="Newest first.")


class Became(ResponseModel):
    """kg per disposition of a part of a lot (pending: not decided yet)."""

    reuse: float = Field(description="kg reused.")
    repair: float = Field(description="kg repaired or refurbished.")
    recycle: float = Field(description="kg recycled.")
    recover: float = Field(description="kg recovered (energy).")
    dispose: float = Field(description="kg disposed of.")
    pending: float = Field(description="kg awaiting review.")


class TracedMaterial(ResponseModel):
    """One category of a pickup as a load received it."""

    category: str = Field(description="The material category.")
    kg: float = Field(description="kg attributed to the pickup.")
    contaminated_kg: float = Field(description="Of it, contaminated.")
    became: Became = Field(description="What it became.")


class TracedIntake(ResponseModel):
    """A load that received (part of) a pickup."""

    intake_id: IntakeId
    facility_id: FacilityId
    received_at: Time = Field(description="When it was received.")
    share: float = Field(description="The fraction of the pickup in the load.")
    materials: list[TracedMaterial] = Field(description="Per category.")


class PickupTrace(ResponseModel):
    """Where a pickup's material went."""

    pickup_id: PickupId
    bin_id: BinId
    region: Region
    status: PickupStatus = Field(description="The pickup's status.")
    collected_at: Time | None = Field(description="When it was collected.")
    manifest: Manifest
    received_share: float = Field(description="How much of it facilities received (0-1).")
    intakes: list[TracedIntake] = Field(description="The loads that received it.")


class BinTrace(ResponseModel):
    """Where a bin's collected material went, and how contaminated its loads were."""

    bin_id: BinId
    contamination_rate_pct: Pct
    contamination_intakes: int = Field(description="Intakes the rate spans.")
    pickups: list[PickupTrace] = Field(description="Its collected pickups.")


class DepositTrace(ResponseModel):
    """Where one deposit went: the pickup that took it, and that pickup's trace."""

    deposit: Deposit = Field(description="The deposit.")
    pickup: PickupTrace | None = Field(
        description="Null while no collected pickup took it (or it was rejected)."
    )


class LotMaterial(ResponseModel):
    """What one pickup brought of one category to a lot."""

    kg: float = Field(description="kg.")
    contaminated_kg: float = Field(description="Of it, contaminated.")


class LotPickup(ResponseModel):
    """A pickup that fed a lot."""

    pickup_id: PickupId
    share: float = Field(description="The fraction of the pickup in the lot.")
    kg: float = Field(description="kg it brought.")
    materials: dict[str, LotMaterial] = Field(description="Per category.")


class LotBin(ResponseModel):
    """A bin that fed a lot."""

    bin_id: BinId
    region: Region
    kg: float = Field(description="kg it brought.")
    pickups: list[LotPickup] = Field(description="Through these pickups.")


class LotTrace(ResponseModel):
    """Which bins fed a lot."""

    intake_id: IntakeId
    facility_id: FacilityId
    received_at: Time = Field(description="When it was received.")
    received_kg: float = Field(description="What was weighed.")
    bins: list[LotBin] = Field(description="The bins, by id.")


class ByDisposition(ResponseModel):
    """kg per disposition."""

    reuse: float = Field(description="kg reused.")
    repair: float = Field(description="kg repaired or refurbished.")
    recycle: float = Field(description="kg recycled.")
    recover: float = Field(description="kg recovered (energy).")
    dispose: float = Field(description="kg disposed of.")


class ImpactFigures(ResponseModel):
    """The sums of one material, or of all."""

    kg_collected: float = Field(description="Declared by the pickups collected.")
    kg_received: float = Field(description="Weighed at the facilities.")
    kg_contaminated: float = Field(description="Found not to be the material declared.")
    contamination_rate_pct: Pct
    kg_by_disposition: ByDisposition = Field(description="What it became.")
    kg_pending: float = Field(description="Awaiting review.")
    diversion_rate_pct: Pct
    value: float = Field(description="Recovered value (settings' prices).")
    co2e_avoided_kg: float = Field(description="kg CO2e avoided against landfilling.")


class MaterialImpact(ImpactFigures):
    """The sums of one material."""

    material: str = Field(description="The material category.")


class FactorSetRow(ResponseModel):
    """The emission factors the report used."""

    name: str = Field(description="The set's name.")
    version: str = Field(description="Its version.")
    source: str = Field(description="Where the figures come from.")
    url: str | None = Field(description="Where to read them.")
    truck_kg_co2e_per_km: float = Field(description="Truck emissions per km.")
    truck_source: str = Field(description="Where that figure comes from.")


class ImpactReport(ResponseModel):
    """What the programme achieved in a period (docs/facility.md)."""

    from_: Time = Field(alias="from", description="Start of the period.")
    to: Time = Field(description="End of the period (exclusive).")
    region: str | None = Field(description="The region reported on (null: all).")
    facility_id: str | None = Field(description="The facility (null: all).")
    material: str | None = Field(description="The material (null: all).")
    currency: str = Field(description="Currency of value.")
    factor_set: FactorSetRow = Field(description="The emission factors used.")
    collections: int = Field(description="Pickups collected.")
    km_driven: float = Field(description="km driven for the loads received.")
    km_estimated: float = Field(description="Of them, estimated.")
    co2e_truck_kg: float = Field(description="kg CO2e the trucks emitted.")
    co2e_net_kg: float = Field(description="CO2e avoided less the trucks'.")
    totals: ImpactFigures = Field(description="All materials.")
    materials: list[MaterialImpact] = Field(description="Per material.")
