"""The impact report against what is stored: its sums are the stored weigh-ins and
decisions, its CO2e is the factor file's figures applied to them, regions split a
shared load without losing a gram, and the CSV and HTML say the same as the JSON."""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from cloud_bridge.config.facilities import DISPOSITIONS
from cloud_bridge.domain.facility import IntakeLine
from cloud_bridge.engine.processor import Processor
from cloud_bridge.services.facility import DispositionRequest, IntakeRequest, PickupPart
from cloud_bridge.store.sqlite.store import SQLiteStore
from cloud_bridge.views.impact import impact_csv, impact_report, load_factor_set
from cloud_bridge.views.report_html import render_html
from tests.support.facility import NOW, Bins, settings

PATHWAY = {"reuse": "source_reduction", "repair": "source_reduction", "recycle": "recycling",
           "recover": "combustion", "dispose": "landfilling"}  # fmt: skip


def report_of(store: SQLiteStore, **filters: str) -> dict[str, Any]:
    """The report of the day around NOW, with the shipped factors."""
    return impact_report(
        store,
        settings().facilities,
        load_factor_set(),
        since=NOW - timedelta(days=1),
        until=NOW + timedelta(days=1),
        **filters,
    )


@pytest.fixture
def stored() -> Iterator[tuple[SQLiteStore, Processor]]:
    """Two regions' bins, one load holding both, one load of one; decisions on most."""
    store = SQLiteStore(":memory:")
    config = settings(facilities={"sites": [{"id": "mrf", "name": "MRF", "location":
                                             {"lat": 52.5, "lon": 13.4}}]})  # fmt: skip
    processor = Processor(config, store, lambda: NOW)
    bins = Bins(processor, store)
    north = bins.collect("bin-001", [("glass", 8000), ("plastic", 2000)])
    south = bins.collect("bin-002", [("glass", 4000), ("trash", 3000)], region="south")
    more = bins.collect("bin-003", [("cardboard", 5000)])

    def act(action: object) -> object:
        return processor.run(lambda: action(processor.facility))[0]  # type: ignore[operator]

    shared = act(
        lambda s: s.record_intake(
            IntakeRequest(
                "mrf",
                [PickupPart(north), PickupPart(south)],
                [
                    IntakeLine("glass", 12.6, None, 0.6),
                    IntakeLine("plastic", 1.8),
                    IntakeLine("trash", 3.2),
                ],
                distance_km=30.0,
            ),
            "op",
        )
    ).intake_id  # type: ignore[attr-defined]
    single = act(
        lambda s: s.record_intake(
            IntakeRequest("mrf", [PickupPart(more)], [IntakeLine("cardboard", 4.9, None, 0.2)]),
            "op",
        )
    ).intake_id  # type: ignore[attr-defined]
    for lot, category, disposition, kg in (
        (shared, "glass", "reuse", 1.0),
        (shared, "glass", "recycle", 11.0),
        (shared, "glass", "dispose", 0.6),
        (shared, "plastic", "recover", 1.8),
        (shared, "trash", "dispose", 3.2),
        (single, "cardboard", "recycle", 4.0),
    ):
        request = DispositionRequest(lot, category, disposition, kg)
        act(lambda s, r=request: s.record_disposition(r, "op"))
    yield store, processor
    store.close()


def test_the_report_sums_the_stored_rows_with_the_factor_file(
    stored: tuple[SQLiteStore, Processor],
) -> None:
    store, _ = stored
    facilities = settings().facilities
    report = report_of(store)
    intakes = store.list_intakes()
    decisions = store.list_dispositions()
    received = sum(line.kg for i in intakes for line in i.lines)
    assert report["totals"]["kg_received"] == pytest.approx(received)  # 22.5
    assert report["totals"]["kg_contaminated"] == pytest.approx(0.8)
    for disposition in DISPOSITIONS:
        kg = sum(d.kg for d in decisions if d.disposition == disposition)
        assert report["totals"]["kg_by_disposition"][disposition] == pytest.approx(kg)
    assert report["totals"]["kg_pending"] == pytest.approx(received - sum(d.kg for d in decisions))
    # diversion: (1 + 11 + 1.8 + 4) of 21.6 decided kg were not disposed of
    assert report["totals"]["diversion_rate_pct"] == pytest.approx(round(100 * 17.8 / 21.6, 2))
    text = resources.files("cloud_bridge.domain").joinpath("data/emission_factors.toml")
    factors = tomllib.loads(text.read_text())
    expected = sum(
        d.kg
        / 1000
        * (
            factors["materials"][d.category]["landfilling"]
            - factors["materials"][d.category][PATHWAY[d.disposition]]
        )
        for d in decisions
    )
    assert report["totals"]["co2e_avoided_kg"] == pytest.approx(expected, abs=0.05)
    km = sum(i.distance_km or 0.0 for i in intakes)
    assert report["km_driven"] == pytest.approx(km, abs=0.05)
    assert report["co2e_truck_kg"] == pytest.approx(
        km * factors["truck"]["kg_co2e_per_km"], abs=0.1
    )
    assert report["co2e_net_kg"] == pytest.approx(expected - report["co2e_truck_kg"], abs=0.1)
    assert report["factor_set"]["name"] == factors["factor_set"]["name"]
    assert report["factor_set"]["version"] == factors["factor_set"]["version"]
    assert report["collections"] == 3
    assert report["totals"]["kg_collected"] == pytest.approx(8 + 2 + 4 + 3 + 5)
    by_material = {m["material"]: m for m in report["materials"]}
    assert sum(m["kg_received"] for m in by_material.values()) == pytest.approx(received)
    assert by_material["glass"]["kg_by_disposition"]["reuse"] == 1.0
    only_glass = report_of(store, material="glass")
    assert only_glass["totals"]["kg_received"] == 12.6
    assert only_glass["collections"] == 2  # the pickups that declared glass
    empty = impact_report(
        store, facilities, load_factor_set(), since=NOW + timedelta(days=1),
        until=NOW + timedelta(days=2),
    )  # fmt: skip
    assert (empty["totals"]["kg_received"], empty["totals"]["diversion_rate_pct"]) == (0.0, None)


def test_regions_split_a_shared_load_and_add_up_to_the_whole(
    stored: tuple[SQLiteStore, Processor],
) -> None:
    store, _ = stored
    whole = report_of(store)
    north = report_of(store, region="north")
    south = report_of(store, region="south")
    for key in ("kg_received", "kg_contaminated", "co2e_avoided_kg", "kg_collected"):
        assert north["totals"][key] + south["totals"][key] == pytest.approx(
            whole["totals"][key], abs=0.15
        ), key
    assert north["km_driven"] + south["km_driven"] == pytest.approx(whole["km_driven"], abs=0.1)
    # glass of the shared load: bin-001 declared 8 of the 12 kg, so 2/3 of 12.6 is north's
    glass = {m["material"]: m for m in north["materials"]}["glass"]
    assert glass["kg_received"] == pytest.approx(8.4)
    assert {m["material"]: m for m in south["materials"]}["trash"]["kg_received"] == 3.2
    assert (north["collections"], south["collections"]) == (2, 1)


def test_csv_and_html_say_what_the_json_says(
    stored: tuple[SQLiteStore, Processor], tmp_path: Path
) -> None:
    store, _ = stored
    report = report_of(store)
    text = impact_csv(report)
    comment, body = text.split("\n", 1)
    assert comment.startswith("# impact ")
    assert "WARM" in comment
    rows = {row["material"]: row for row in csv.DictReader(io.StringIO(body))}
    assert list(rows) == ["cardboard", "glass", "plastic", "trash", "total"]
    assert float(rows["total"]["kg_received"]) == report["totals"]["kg_received"]
    assert float(rows["glass"]["kg_reuse"]) == 1.0
    assert float(rows["total"]["co2e_net_kg"]) == report["co2e_net_kg"]
    assert rows["glass"]["collections"] == ""
    page = render_html(report, generated=NOW)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page
    assert page.count("<rect") >= 5  # a bar segment per disposition used
    assert report["factor_set"]["version"] in page
    assert f"{report['totals']['diversion_rate_pct']:.1f} %" in page
