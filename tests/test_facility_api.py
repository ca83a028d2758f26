"""The facility routes of the REST API: every role's permission on every new route
(a facility token limited to its facilities), the intake, disposition, stock, trace and
report answers conforming to their documented schemas, bad input as a 422 naming the
field, unknown things as 404, conflicts as 409, a stopped bridge as 503, and that a
refused request changes nothing. (tests/test_api.py checks 401 and the role table on
every route, these included.)"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud_bridge.api.app import create_app
from cloud_bridge.api.auth import TokenTable
from cloud_bridge.api.context import ApiContext, ReaderPool
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.engine.processor import Processor
from cloud_bridge.store.sqlite.store import SQLiteStore
from tests.support import openapi
from tests.support.facility import FACILITY_ROUTE_PREFIXES, NOW, Bins, facility_settings
from tests.test_api import DirectActions

TOKENS = {
    "sched": ("scheduler", None),
    "tech": ("technician", None),
    "admin": ("admin", None),
    "fac": ("facility", None),
    "glass-op": ("facility", ["glassworks"]),
}


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}-token"}


class Harness:
    """An API over a processor with two facilities and bins collected, requested."""

    def __init__(self, tmp_path: Path) -> None:
        path = tmp_path / "bridge.db"
        tokens = [
            {
                "name": name,
                "role": role,
                "sha256": hashlib.sha256(f"{name}-token".encode()).hexdigest(),
                **({} if facilities is None else {"facilities": facilities}),
            }
            for name, (role, facilities) in TOKENS.items()
        ]
        self.settings = validate_settings(
            facility_settings(path, api={"port": 0, "max_rows": 500, "tokens": tokens})
        )
        self.store = SQLiteStore(path)
        self.processor = Processor(self.settings, self.store, lambda: NOW)
        bins = Bins(self.processor, self.store)
        self.first = bins.collect("bin-001", [("glass", 6000), ("metal", 1000)])
        self.second = bins.collect("bin-002", [("glass", 3000), ("plastic", 500)])
        self.third = bins.collect("bin-003", [("glass", 2000)])
        self.open = bins.request("bin-004")
        self.actions = DirectActions(self.processor, self.store)
        self.readers = ReaderPool.sqlite(str(path))
        self.context = ApiContext(
            settings=self.settings,
            readers=self.readers,
            actions=self.actions,
            clock=lambda: NOW,
            tokens=TokenTable.from_settings(self.settings.api),
        )
        self.client = TestClient(create_app(self.context))

    def snapshot(self) -> tuple[int, int, int, int]:
        return (
            len(self.store.list_intakes()),
            len(self.store.list_dispositions()),
            len(self.store.list_movements()),
            len(self.actions.published),
        )

    def intake(self, who: str = "fac", **body: Any) -> Any:
        payload = {
            "facility_id": "mrf-north",
            "pickups": [{"pickup_id": self.first}, {"pickup_id": self.second}],
            "lines": [
                {"category": "glass", "kg": 8.1, "count": 19, "contaminated_kg": 0.3},
                {"category": "metal", "kg": 1.0},
            ],
            **body,
        }
        return self.client.post("/v1/intakes", headers=auth(who), json=payload)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    made = Harness(tmp_path)
    with made.client:
        yield made
    made.readers.close()
    made.store.close()


def test_an_intake_is_reconciled_decided_restocked_traced_and_reported(harness: Harness) -> None:
    h = harness
    response = h.intake()
    assert response.status_code == 201, response.text
    row = response.json()
    lines = {line["category"]: line for line in row["lines"]}
    # declared: glass 6 + 3 = 9, metal 1, plastic 0.5 (not received)
    assert (lines["glass"]["declared_kg"], lines["glass"]["diff_kg"]) == (9.0, -0.9)
    assert (lines["glass"]["diff_pct"], lines["glass"]["flagged"]) == (-10.0, False)
    assert (lines["plastic"]["received_kg"], lines["plastic"]["diff_pct"]) == (0.0, -100.0)
    assert row["distance_estimated"] is True
    lot = row["intake_id"]
    admin = auth("admin")
    decided = h.client.post(
        f"/v1/intakes/{lot}/dispositions",
        headers=auth("fac"),
        json={"category": "glass", "disposition": "reuse", "kg": 2.0, "count": 4, "restock": True},
    )
    assert decided.status_code == 201, decided.text
    assert decided.json()["disposition"]["value"] == 0.8
    assert decided.json()["movement"]["kg"] == 2.0
    for category, disposition, kg in (("glass", "recycle", 6.1), ("metal", "recycle", 1.0)):
        answer = h.client.post(
            f"/v1/intakes/{lot}/dispositions",
            headers=admin,
            json={"category": category, "disposition": disposition, "kg": kg},
        )
        assert answer.status_code == 201, answer.text
    out = h.client.post(
        "/v1/facilities/mrf-north/inventory",
        headers=auth("fac"),
        json={"category": "glass", "kg": -0.5, "count": -1, "note": "sold"},
    )
    assert out.status_code == 201, out.text
    assert out.json()["reason"] == "issue"
    stock = h.client.get("/v1/facilities/mrf-north/inventory", headers=auth("sched")).json()
    assert stock["stock"] == [
        {"facility_id": "mrf-north", "category": "glass", "kg": 1.5, "count": 3}
    ]
    trace = h.client.get(f"/v1/trace/pickups/{h.first}", headers=auth("fac")).json()
    (part,) = trace["intakes"]
    glass = next(m for m in part["materials"] if m["category"] == "glass")
    # bin-001 declared 6 of the 9 kg of glass: 2/3 of 8.1 kg and of what it became
    assert glass["kg"] == 5.4
    assert glass["became"]["reuse"] == pytest.approx(1.333, abs=0.001)
    assert glass["became"]["pending"] == 0.0
    lot_trace = h.client.get(f"/v1/intakes/{lot}/trace", headers=auth("fac")).json()
    assert [b["bin_id"] for b in lot_trace["bins"]] == ["bin-001", "bin-002"]
    assert sum(b["kg"] for b in lot_trace["bins"]) == pytest.approx(9.1)
    deposit = h.client.get("/v1/trace/deposits/bin-001/2", headers=auth("fac")).json()
    assert deposit["deposit"]["category"] == "glass"
    assert deposit["pickup"]["pickup_id"] == h.first
    report = h.client.get(
        "/v1/reports/impact", params={"from": "2026-11-01", "to": "2026-11-30"}, headers=admin
    ).json()
    assert report["totals"]["kg_received"] == 9.1
    assert report["totals"]["kg_by_disposition"]["recycle"] == 7.1
    assert report["totals"]["diversion_rate_pct"] == 100.0
    assert report["collections"] == 3
    assert report["factor_set"]["version"].startswith("WARM v15")
    assert report["from"] == "2026-11-01T00:00:00.000Z"
    north = h.client.get(
        "/v1/reports/impact.csv",
        params={"from": "2026-11-01", "to": "2026-11-30", "region": "south"},
        headers=auth("sched"),
    )
    assert north.status_code == 200
    assert north.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(north.text.split("\n", 1)[1])))
    assert rows[-1]["material"] == "total"
    assert rows[-1]["kg_received"] == "0.0"  # every pickup here is from the north
    page = h.client.get(
        "/v1/reports/impact.html", params={"from": "2026-11-01", "to": "2026-12-01"}, headers=admin
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text
    assert "WARM" in page.text


def test_facility_routes_answer_as_documented(harness: Harness) -> None:
    """Every facility GET and POST body conforms to its documented schema."""
    h = harness
    lot = h.intake().json()["intake_id"]
    h.client.post(
        f"/v1/intakes/{lot}/dispositions",
        headers=auth("fac"),
        json={"category": "glass", "disposition": "dispose", "kg": 1.0, "grade": "C"},
    )
    document = h.client.get("/openapi.json").json()
    ids = {"facility_id": "mrf-north", "intake_id": lot, "pickup_id": h.first,
           "bin_id": "bin-001", "seq": "2"}  # fmt: skip
    query = "?from=2026-11-01&to=2026-12-01"
    checked = []
    for path, operations in document["paths"].items():
        if not path.startswith(FACILITY_ROUTE_PREFIXES) or "get" not in operations:
            continue
        content = operations["get"]["responses"]["200"]["content"]
        if "application/json" not in content:
            continue
        url = path.format(**ids) + (query if path.startswith("/v1/reports") else "")
        response = h.client.get(url, headers=auth("admin"))
        assert response.status_code == 200, (url, response.text)
        schema = content["application/json"]["schema"]
        assert openapi.conformity(response.json(), schema, document) == [], url
        checked.append(path)
    assert len(checked) == 9
    for path, body in (
        ("/v1/intakes/{intake_id}/dispositions", {"category": "metal", "disposition": "recycle",
                                                   "kg": 0.5, "restock": False}),
        ("/v1/facilities/{facility_id}/inventory", {"category": "metal", "kg": 2}),
    ):  # fmt: skip
        response = h.client.post(path.format(**ids), headers=auth("admin"), json=body)
        assert response.status_code == 201, response.text
        schema = document["paths"][path]["post"]["responses"]["201"]["content"]
        assert (
            openapi.conformity(response.json(), schema["application/json"]["schema"], document)
            == []
        )


READS = [
    ("GET", "/v1/facilities", None),
    ("GET", "/v1/facilities/mrf-north/inventory", None),
    ("GET", "/v1/intakes", None),
    ("GET", "/v1/intakes/{lot}", None),
    ("GET", "/v1/intakes/{lot}/trace", None),
    ("GET", "/v1/trace/pickups/{first}", None),
    ("GET", "/v1/trace/bins/bin-001", None),
    ("GET", "/v1/trace/deposits/bin-001/2", None),
]
REPORTS = [
    ("GET", "/v1/reports/impact?from=2026-11-01&to=2026-12-01", None),
    ("GET", "/v1/reports/impact.csv?from=2026-11-01&to=2026-12-01", None),
    ("GET", "/v1/reports/impact.html?from=2026-11-01&to=2026-12-01", None),
]
WRITES = [
    ("POST", "/v1/intakes", {"facility_id": "mrf-north", "pickups": [{"pickup_id": "{third}"}],
                             "lines": [{"category": "glass", "kg": 2}]}),
    ("POST", "/v1/intakes/{lot}/dispositions", {"category": "glass", "disposition": "recycle",
                                                "kg": 0.1}),
    ("POST", "/v1/facilities/mrf-north/inventory", {"category": "glass", "kg": 1}),
]  # fmt: skip
MAY = {
    "scheduler": {"read", "report"},
    "technician": set(),
    "admin": {"read", "report", "write"},
    "facility": {"read", "report", "write"},
}
"""Which of the facility routes each role may use (the role table of docs/bridge.md)."""


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("role", sorted(MAY))
def test_each_role_may_use_exactly_its_facility_routes(harness: Harness, role: str) -> None:
    h = harness
    who = next(name for name, (r, limited) in TOKENS.items() if r == role and limited is None)
    ids = {"lot": h.intake(who="admin").json()["intake_id"], "first": h.first, "third": h.third}
    for kind, cases in (("read", READS), ("report", REPORTS), ("write", WRITES)):
        for method, url, body in cases:
            before = h.snapshot()
            response = h.client.request(
                method, _fill(url, ids), headers=auth(who), json=_fill(body, ids)
            )
            if kind in MAY[role]:
                assert response.status_code in (200, 201), (role, url, response.text)
            else:
                assert response.status_code == 403, (role, url, response.status_code)
                assert role in response.json()["detail"]
                assert h.snapshot() == before


def test_a_facility_token_records_only_for_its_facilities(harness: Harness) -> None:
    h = harness
    before = h.snapshot()
    response = h.intake(who="glass-op")
    assert response.status_code == 403
    assert response.json() == {"detail": "this token does not act for facility 'mrf-north'"}
    assert h.snapshot() == before
    lot = h.intake().json()["intake_id"]
    response = h.client.post(
        f"/v1/intakes/{lot}/dispositions",
        headers=auth("glass-op"),
        json={"category": "glass", "disposition": "recycle", "kg": 1},
    )
    assert response.status_code == 403
    ok = h.intake(
        who="glass-op",
        facility_id="glassworks",
        pickups=[{"pickup_id": h.third}],
        lines=[{"category": "glass", "kg": 2.0}],
    )
    assert ok.status_code == 201, ok.text


BAD_INPUT: list[tuple[str, dict[str, Any] | None, str]] = [
    ("/v1/intakes", {"lines": [{"category": "glass", "kg": -1}]}, "kg"),
    ("/v1/intakes", {"lines": [{"category": "glass", "kg": 1, "contaminated_kg": -0.1}]},
     "contaminated_kg"),
    ("/v1/intakes", {"lines": [{"category": "wood", "kg": 1}]}, "category"),
    ("/v1/intakes", {"lines": []}, "lines"),
    ("/v1/intakes", {"pickups": []}, "pickups"),
    ("/v1/intakes", {"pickups": [{"pickup_id": "{first}", "share": 0}]}, "share"),
    ("/v1/intakes", {"pickups": [{"pickup_id": "{first}", "share": 1.5}]}, "share"),
    ("/v1/intakes", {"pickups": [{"pickup_id": "{first}"}, {"pickup_id": "{first}"}]},
     "pickups"),
    ("/v1/intakes", {"facility_id": "MRF North"}, "facility_id"),
    ("/v1/intakes", {"received_at": "yesterday"}, "received_at"),
    ("/v1/intakes", {"received_at": "2030-01-01T00:00:00Z"}, "received_at"),
    ("/v1/intakes", {"received_at": "2026-11-01T00:00:00Z"}, "received_at"),
    ("/v1/intakes", {"distance_km": -3}, "distance_km"),
    ("/v1/intakes", {"truck": 4}, "truck"),
    ("/v1/intakes", {"facility_id": "glassworks",
                     "lines": [{"category": "paper", "kg": 1}]}, "lines"),
    ("/v1/intakes/{lot}/dispositions", {"category": "glass", "disposition": "burn", "kg": 1},
     "disposition"),
    ("/v1/intakes/{lot}/dispositions", {"category": "glass", "disposition": "reuse", "kg": 0},
     "kg"),
    ("/v1/intakes/{lot}/dispositions", {"category": "paper", "disposition": "reuse", "kg": 1},
     "category"),
    ("/v1/intakes/{lot}/dispositions",
     {"category": "glass", "disposition": "recycle", "kg": 1, "restock": True}, "restock"),
    ("/v1/intakes/in%20x/dispositions", {"category": "glass", "disposition": "reuse", "kg": 1},
     "intake_id"),
    ("/v1/facilities/mrf-north/inventory", {"category": "glass", "kg": 0}, "kg"),
    ("/v1/facilities/mrf-north/inventory", {"category": "glass", "kg": 1, "reason": "gift"},
     "reason"),
    ("/v1/facilities/MRF/inventory", {"category": "glass", "kg": 1}, "facility_id"),
]  # fmt: skip
BAD_QUERIES = [
    ("/v1/facilities/mrf-north/inventory?limit=0", "limit"),
    ("/v1/intakes?from=yesterday", "from"),
    ("/v1/intakes?bin_id=Bin%201", "bin_id"),
    ("/v1/intakes/in%20x", "intake_id"),
    ("/v1/intakes/in%20x/trace", "intake_id"),
    ("/v1/trace/pickups/pk%20x", "pickup_id"),
    ("/v1/trace/bins/bin-001?to=2026-13-01", "to"),
    ("/v1/trace/deposits/bin-001/0", "seq"),
    ("/v1/reports/impact?to=2026-11-30", "from"),
    ("/v1/reports/impact?from=2026-11-01&to=2026-12-01&material=wood", "material"),
    ("/v1/reports/impact.csv?from=2026-11-01", "to"),
    ("/v1/reports/impact.html?from=2026-11-01&to=2026-12-01&region=a%2Fb", "region"),
]


def test_bad_input_is_a_422_naming_the_field_and_changes_nothing(harness: Harness) -> None:
    h = harness
    ids = {"lot": h.intake().json()["intake_id"], "first": h.third}
    document = h.client.get("/openapi.json").json()
    for url, change, field in BAD_INPUT:
        url = url.format(**ids)
        if url == "/v1/intakes":
            body = {
                "facility_id": "mrf-north",
                "pickups": [{"pickup_id": h.third}],
                "lines": [{"category": "glass", "kg": 2.0}],
                **_fill(change, ids),
            }
        else:
            body = _fill(change, ids)
        before = h.snapshot()
        response = h.client.post(url, headers=auth("admin"), json=body)
        assert response.status_code == 422, (url, body, response.text)
        detail = response.json()["detail"]
        assert any(field in [str(part) for part in item["loc"]] for item in detail), detail
        assert h.snapshot() == before
        path, operation = openapi.route_operation(document, "POST", url)
        schema = openapi.error_schema(operation, 422)
        assert schema is not None
        assert openapi.conformity(response.json(), schema, document) == [], path
    for url, field in BAD_QUERIES:
        response = h.client.get(url, headers=auth("admin"))
        assert response.status_code == 422, (url, response.text)
        assert any(field in [str(p) for p in item["loc"]] for item in response.json()["detail"])


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_weights_json_cannot_carry_are_a_422_naming_the_field(
    harness: Harness, number: bytes
) -> None:
    h = harness
    before = h.snapshot()
    body = (
        b'{"facility_id": "mrf-north", "pickups": [{"pickup_id": "' + h.third.encode() + b'"}],'
        b' "lines": [{"category": "glass", "kg": ' + number + b"}]}"
    )
    response = h.client.post(
        "/v1/intakes", headers={**auth("admin"), "Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", "lines", 0, "kg"]
    assert h.snapshot() == before


def test_unknown_things_conflicts_and_a_stopped_bridge_are_documented_where_they_occur(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    document = h.client.get("/openapi.json").json()
    lot = h.intake().json()["intake_id"]
    glass = [{"category": "glass", "kg": 1.0}]
    seen: set[tuple[str, str, int]] = set()

    def expect(status: int, method: str, url: str, body: Any = None) -> None:
        before = h.snapshot()
        response = h.client.request(method, url, headers=auth("admin"), json=body)
        assert response.status_code == status, (method, url, response.text)
        path, operation = openapi.route_operation(document, method, url)
        schema = openapi.error_schema(operation, status)
        assert schema is not None, (method, path, status)
        assert openapi.conformity(response.json(), schema, document) == []
        if method == "POST":
            assert h.snapshot() == before
        seen.add((method, path, status))

    intake = {"facility_id": "mrf-north", "pickups": [{"pickup_id": h.third}], "lines": glass}
    expect(404, "POST", "/v1/intakes", {**intake, "facility_id": "nowhere"})
    expect(404, "POST", "/v1/intakes", {**intake, "pickups": [{"pickup_id": "pk-404"}]})
    expect(404, "POST", "/v1/intakes/in-404/dispositions",
           {"category": "glass", "disposition": "reuse", "kg": 1})  # fmt: skip
    expect(404, "POST", "/v1/facilities/nowhere/inventory", {"category": "glass", "kg": 1})
    expect(404, "GET", "/v1/facilities/nowhere/inventory")
    expect(404, "GET", "/v1/intakes/in-404")
    expect(404, "GET", "/v1/intakes/in-404/trace")
    expect(404, "GET", "/v1/trace/pickups/pk-404")
    expect(404, "GET", "/v1/trace/bins/bin-404")
    expect(404, "GET", "/v1/trace/deposits/bin-001/999")
    for suffix in ("", ".csv", ".html"):
        expect(404, "GET", f"/v1/reports/impact{suffix}?from=2026-11-01&to=2026-12-01"
                           "&facility_id=nowhere")  # fmt: skip
    expect(409, "POST", "/v1/intakes", {**intake, "pickups": [{"pickup_id": h.open}]})
    expect(409, "POST", "/v1/intakes", {**intake, "pickups": [{"pickup_id": h.first}]})
    expect(409, "POST", f"/v1/intakes/{lot}/dispositions",
           {"category": "glass", "disposition": "reuse", "kg": 9})  # fmt: skip
    expect(409, "POST", "/v1/facilities/mrf-north/inventory", {"category": "glass", "kg": -1})
    h.context.actions = Bridge(  # never started: its writer does not run
        validate_settings({"store": {"path": str(tmp_path / "other.db")}}), store=h.store
    )
    expect(503, "POST", "/v1/intakes", intake)
    expect(503, "POST", f"/v1/intakes/{lot}/dispositions",
           {"category": "glass", "disposition": "reuse", "kg": 1})  # fmt: skip
    expect(503, "POST", "/v1/facilities/mrf-north/inventory", {"category": "glass", "kg": 1})
    documented = {
        (method.upper(), path, int(status))
        for path, operations in document["paths"].items()
        if path.startswith(FACILITY_ROUTE_PREFIXES)
        for method, operation in operations.items()
        for status in operation["responses"]
        if int(status) in {404, 409, 503}
    }
    assert seen == documented
