"""The facility's pure rules on hand-computed cases: reconciliation (several pickups in
one load, a split pickup, a category missing on either side), attribution, the
contamination rate and its drift finding, the waste hierarchy, the impact sums and CO2e,
the shipped emission factor file, and the distance estimate."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud_bridge.config.facilities import DISPOSITIONS
from cloud_bridge.domain.facility import (
    BinIntakeShare,
    Intake,
    IntakeLine,
    IntakePickup,
    contamination_rate,
    diverted,
    drift_finding,
    haul_km,
    haversine_km,
    hierarchy_rank,
)
from cloud_bridge.domain.impact import FactorSet, MaterialFactors, summarize
from cloud_bridge.domain.reconciliation import attribute, bin_share, reconcile, region_fractions
from cloud_bridge.views.impact import load_factor_set
from protocol import ManifestEntry
from tests.support.bin_messages import T0

P1 = IntakePickup(
    "pk-1",
    "bin-001",
    "north",
    1.0,
    {"glass": ManifestEntry(count=20, kg=10.0), "metal": ManifestEntry(count=10, kg=2.0)},
)
P2 = IntakePickup(
    "pk-2",
    "bin-002",
    "south",
    1.0,
    {"glass": ManifestEntry(count=10, kg=5.0), "plastic": ManifestEntry(count=30, kg=3.0)},
)
P3 = {"cardboard": ManifestEntry(count=4, kg=20.0), "glass": ManifestEntry(count=12, kg=6.0)}


def lines_by_category(**kg: float) -> list[IntakeLine]:
    return [IntakeLine(category, value) for category, value in kg.items()]


def test_several_pickups_in_one_load_with_a_category_missing_on_each_side() -> None:
    # declared: glass 10 + 5 = 15, metal 2, plastic 3; paper nobody declared
    lines = [IntakeLine("glass", 14.0, 29), IntakeLine("metal", 2.5), IntakeLine("paper", 1.5)]
    result = {
        r.category: r for r in reconcile([P1, P2], lines, tolerance_pct=10.0, tolerance_kg=1.0)
    }
    assert list(result) == ["glass", "metal", "paper", "plastic"]
    glass = result["glass"]
    assert (glass.declared_kg, glass.received_kg, glass.diff_kg) == (15.0, 14.0, -1.0)
    assert glass.diff_pct == -6.67  # -1 / 15
    assert (glass.declared_count, glass.received_count) == (30.0, 29)
    assert not glass.flagged  # 1 kg is within tolerance_kg
    metal = result["metal"]
    assert (metal.diff_kg, metal.diff_pct, metal.flagged) == (0.5, 25.0, False)  # 0.5 kg
    paper = result["paper"]  # received, never declared
    assert (paper.declared_kg, paper.diff_kg, paper.diff_pct, paper.flagged) == (
        0.0,
        1.5,
        None,
        True,
    )
    plastic = result["plastic"]  # declared, never received
    assert (plastic.received_kg, plastic.diff_kg, plastic.diff_pct) == (0.0, -3.0, -100.0)
    assert plastic.flagged
    assert plastic.received_count is None
    assert plastic.contamination_pct is None


def test_a_split_pickup_declares_its_share_to_each_load() -> None:
    first = IntakePickup("pk-3", "bin-003", "north", 0.6, P3)
    second = IntakePickup("pk-3", "bin-003", "north", 0.4, P3)
    one = {
        r.category: r
        for r in reconcile(
            [first],
            lines_by_category(cardboard=13.5, glass=3.6),
            tolerance_pct=10.0,
            tolerance_kg=1.0,
        )
    }
    # 0.6 x 20 = 12 kg of cardboard declared; 13.5 is +1.5 kg, +12.5 %: flagged
    assert (one["cardboard"].declared_kg, one["cardboard"].diff_pct) == (12.0, 12.5)
    assert one["cardboard"].flagged
    assert one["cardboard"].declared_count == 2.4
    assert (one["glass"].declared_kg, one["glass"].diff_kg, one["glass"].flagged) == (
        3.6,
        0.0,
        False,
    )
    two = {
        r.category: r
        for r in reconcile(
            [second],
            lines_by_category(cardboard=7.5, glass=2.4),
            tolerance_pct=10.0,
            tolerance_kg=1.0,
        )
    }
    # 0.4 x 20 = 8 kg: -0.5 kg is within 1 kg though it is -6.25 %
    assert (two["cardboard"].declared_kg, two["cardboard"].diff_pct) == (8.0, -6.25)
    assert not two["cardboard"].flagged


def test_a_difference_is_flagged_only_beyond_both_tolerances() -> None:
    pickup = IntakePickup(
        "pk-9", "bin-009", "north", 1.0, {"glass": ManifestEntry(count=1, kg=100)}
    )
    for received, flagged in ((111.0, True), (110.0, False), (89.0, True), (95.0, False)):
        (line,) = reconcile(
            [pickup], lines_by_category(glass=received), tolerance_pct=10.0, tolerance_kg=1.0
        )
        assert line.flagged is flagged, received
    (small,) = reconcile(
        [IntakePickup("pk-8", "b", "north", 1.0, {"glass": ManifestEntry(count=1, kg=2.0)})],
        lines_by_category(glass=2.9),
        tolerance_pct=10.0,
        tolerance_kg=1.0,
    )
    assert (small.diff_pct, small.flagged) == (45.0, False)  # 45 %, but only 0.9 kg


def intake(pickups: list[IntakePickup], lines: list[IntakeLine], hours: int = 0) -> Intake:
    return Intake(
        intake_id=f"in-{hours}",
        facility_id="mrf-north",
        received_at=T0 + timedelta(hours=hours),
        recorded_at=T0 + timedelta(hours=hours),
        actor="test",
        pickups=tuple(pickups),
        lines=tuple(lines),
    )


def test_a_load_is_attributed_to_its_pickups_by_what_each_declared() -> None:
    load = intake(
        [P1, P2],
        [IntakeLine("glass", 14.0, None, 3.0), IntakeLine("paper", 1.5), IntakeLine("metal", 2.5)],
    )
    shares = attribute(load)
    # glass by declared glass 10 : 5; paper (undeclared) by declared totals 12 : 8;
    # metal only pk-1 declared
    assert shares["pk-1"]["glass"] == pytest.approx((14.0 * 2 / 3, 2.0))
    assert shares["pk-2"]["glass"] == pytest.approx((14.0 / 3, 1.0))
    assert shares["pk-1"]["paper"] == pytest.approx((0.9, 0.0))
    assert shares["pk-2"]["paper"] == pytest.approx((0.6, 0.0))
    assert shares["pk-1"]["metal"] == pytest.approx((2.5, 0.0))
    assert shares["pk-2"]["metal"] == pytest.approx((0.0, 0.0))
    assert sum(kg for p in shares.values() for kg, _ in p.values()) == pytest.approx(18.0)
    mine = bin_share(load, "bin-001")
    assert (mine.kg, mine.contaminated_kg) == pytest.approx((14.0 * 2 / 3 + 0.9 + 2.5, 2.0))
    assert region_fractions(load, "glass") == pytest.approx({"north": 2 / 3, "south": 1 / 3})
    nothing = intake([P1, P2], [IntakeLine("glass", 1.0)])
    empty_pickups = intake(
        [IntakePickup("a", "b1", "north", 0.5, {}), IntakePickup("b", "b2", "south", 1.0, {})],
        [IntakeLine("trash", 3.0)],
    )
    assert sum(kg for p in attribute(nothing).values() for kg, _ in p.values()) == 1.0
    # nothing declared at all: split by the shares 0.5 : 1
    assert attribute(empty_pickups)["a"]["trash"] == pytest.approx((1.0, 0.0))


def share(kg: float, bad: float) -> BinIntakeShare:
    return BinIntakeShare("in-x", T0, kg, bad, {"glass": (kg, bad)})


def test_contamination_rate_opens_drift_above_the_threshold_over_the_window() -> None:
    assert contamination_rate([share(10, 3), share(10, 0)]) == 15.0
    assert contamination_rate([share(0, 0)]) is None
    # newest first: window 2, threshold 10 %
    assert drift_finding([share(10, 3)], 10.0, 2) is None  # one intake is not yet a window
    finding = drift_finding([share(10, 0), share(10, 3), share(100, 0)], 10.0, 2)
    assert finding is not None
    assert (finding.kind, finding.severity, finding.causes) == (
        "classification_drift",
        "warning",
        ("contamination",),
    )
    assert "15.0 %" in finding.detail
    assert "glass 3.0 kg" in finding.detail
    assert drift_finding([share(10, 1), share(10, 1)], 10.0, 2) is None  # exactly 10 %: not above
    assert drift_finding([share(10, 0), share(10, 0), share(10, 9)], 10.0, 2) is None  # clean now


def test_the_waste_hierarchy_orders_the_dispositions() -> None:
    assert DISPOSITIONS == ("reuse", "repair", "recycle", "recover", "dispose")
    assert [hierarchy_rank(d) for d in DISPOSITIONS] == [1, 2, 3, 4, 5]
    assert sorted(["dispose", "recycle", "reuse", "recover", "repair"], key=hierarchy_rank) == list(
        DISPOSITIONS
    )
    assert [diverted(d) for d in DISPOSITIONS] == [True, True, True, True, False]


FACTORS = FactorSet(
    name="test",
    version="1",
    source="hand",
    url=None,
    truck_kg_per_km=1.0,
    truck_source="hand",
    materials={
        "glass": MaterialFactors(
            {"source_reduction": -500, "recycling": -300, "combustion": 30, "landfilling": 20}
        ),
        "trash": MaterialFactors(
            {"source_reduction": 0, "recycling": -100, "combustion": 10, "landfilling": 600}
        ),
    },
)


def test_impact_sums_and_co2e_by_hand() -> None:
    result = summarize(
        collected=[{"glass": 110.0}, {"glass": 40.0, "trash": 10.0}],
        received=[("glass", 140.0, 4.0), ("trash", 12.0, 0.0)],
        outcomes=[
            ("glass", "recycle", 100.0, 5.0),
            ("glass", "reuse", 20.0, 8.0),
            ("glass", "dispose", 10.0, 0.0),
            ("trash", "recover", 12.0, 0.0),
        ],
        km=[(30.0, False), (12.5, True)],
        factors=FACTORS,
    )
    glass = result.materials["glass"]
    assert (glass.kg_collected, glass.kg_received, glass.kg_pending) == (150.0, 140.0, 10.0)
    assert glass.diversion_rate_pct == pytest.approx(100 * 120 / 130)
    assert glass.contamination_rate_pct == pytest.approx(100 * 4 / 140)
    # recycle: 0.1 t x (20 + 300) = 32; reuse: 0.02 t x (20 + 500) = 10.4; dispose: 0
    assert glass.co2e_avoided_kg == pytest.approx(42.4)
    trash = result.materials["trash"]
    assert trash.co2e_avoided_kg == pytest.approx(0.012 * (600 - 10))
    totals = result.totals
    assert totals.kg_by_disposition == {
        "reuse": 20.0,
        "repair": 0.0,
        "recycle": 100.0,
        "recover": 12.0,
        "dispose": 10.0,
    }
    assert totals.diversion_rate_pct == pytest.approx(100 * 132 / 142)
    assert totals.value == 13.0
    assert (result.collections, result.km_driven, result.km_estimated) == (2, 42.5, 12.5)
    assert result.truck_co2e_kg == 42.5
    assert result.net_co2e_avoided_kg == pytest.approx(42.4 + 7.08 - 42.5)
    assert (
        summarize(
            collected=[], received=[], outcomes=[], km=[], factors=FACTORS
        ).totals.diversion_rate_pct
        is None
    )


def test_the_shipped_factor_file_names_its_source_and_covers_every_material() -> None:
    factors = load_factor_set()
    assert "WARM" in factors.name
    assert "v15" in factors.version
    assert factors.url == "https://www.epa.gov/warm"
    assert 0.5 < factors.truck_kg_per_km < 1.5
    assert "DEFRA" in factors.truck_source
    for material in ("cardboard", "glass", "metal", "paper", "plastic", "trash", "unknown"):
        figures = factors.for_material(material)
        # recycling saves against landfilling for every material in the set
        assert figures.avoided_kg("recycle", 1000) > 0, material
        assert figures.avoided_kg("dispose", 1000) == 0
    # glass: 1 t recycled avoids 22 - (-309) = 331 kg CO2e
    assert factors.for_material("glass").avoided_kg("recycle", 1000.0) == pytest.approx(331.0)


def test_a_factor_file_that_lacks_a_figure_is_refused_naming_it(tmp_path: object) -> None:
    from pathlib import Path

    from cloud_bridge.errors import SettingsError

    path = Path(str(tmp_path)) / "f.toml"
    path.write_text(
        '[factor_set]\nname = "x"\nversion = "1"\nsource = "s"\n'
        '[truck]\nkg_co2e_per_km = 1\nsource = "s"\n'
        "[materials.glass]\nrecycling = -1\ncombustion = 1\nlandfilling = 1\n"
    )
    with pytest.raises(SettingsError, match=r"materials\.glass\.source_reduction"):
        load_factor_set(path)


def test_the_haul_goes_from_the_depot_through_the_nearest_bins_to_the_facility() -> None:
    depot, facility = (52.50, 13.40), (52.60, 13.40)
    near, far = (52.51, 13.40), (52.55, 13.40)
    km = haul_km(depot, [far, near], facility)
    # due north all the way: 0.1 degree of latitude, about 11.1 km, in three legs
    assert km == pytest.approx(haversine_km(depot, facility), rel=1e-6)
    assert km == pytest.approx(11.12, abs=0.01)
    assert haul_km(depot, [], facility) == pytest.approx(km)
