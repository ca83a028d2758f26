"""The dashboard's facility and impact pages over TestClient: sessions and roles (the
API's permission table), the intake form's CSRF and same-origin checks, a forged POST
refused with nothing recorded, bad input answered with the form naming the field and
nothing recorded, the reconciliation shown after a recording, the facility page's
intakes, stock and contamination, the impact page's figures and charts, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from cloud_bridge.config.settings import validate_settings
from cloud_bridge.errors import Unavailable
from cloud_bridge.runtime import BridgeRuntime
from tests.support.dashboard import HOSTILE, token
from tests.support.facility import facility_settings
from tests.support.facility_dashboard import FacilityBridge, facility_dashboard
from tests.test_web import BASE, FORM, csrf_of

PERIOD = "from=2026-11-01&to=2026-11-30"
"""A period holding the pickups and intakes of these tests (they happen on 23 Nov)."""


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[FacilityBridge]:
    with facility_dashboard(tmp_path) as made:
        yield made


@pytest.fixture
def client(bridge: FacilityBridge) -> Iterator[TestClient]:
    with TestClient(bridge.app, base_url=BASE) as test_client:
        yield test_client


def sign_in(client: TestClient, name: str) -> str:
    """Sign in as ``name``; the session's CSRF token."""
    csrf = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"token": token(name), "csrf": csrf}, headers=FORM, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


def intake_form(bridge: FacilityBridge, csrf: str, **fields: Any) -> dict[str, Any]:
    """A good load: pickups first and second at the north facility, glass within
    tolerance (8.1 of 9 kg declared) and metal exact."""
    form: dict[str, Any] = {
        "csrf": csrf,
        "facility_id": "mrf-north",
        "pickup": [bridge.first, bridge.second],
        "kg-glass": "8.1",
        "count-glass": "19",
        "contaminated-glass": "0.3",
        "kg-metal": "1.0",
    }
    form.update(fields)
    return form


def post(client: TestClient, form: dict[str, Any], **headers: str) -> Any:
    return client.post(
        "/facility/intakes/new", data=form, headers={**FORM, **headers}, follow_redirects=False
    )


def error_of(html: str) -> tuple[str, str]:
    """The form's error: the field it names and its message."""
    found = re.search(r'id="form-error" data-field="([^"]*)">([^<]*)<', html)
    assert found is not None, "no error shown"
    return found.group(1), found.group(2)


PAGES = ["/facility", "/facility/intakes/new", "/reports/impact", f"/reports/impact?{PERIOD}"]


@pytest.mark.parametrize(
    "path", [*PAGES, "/facility/intakes/in-x", "/reports/impact.html", "/reports/impact.csv"]
)
def test_pages_without_a_session_redirect_to_the_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_every_page_has_the_csp_and_no_inline_script(
    bridge: FacilityBridge, client: TestClient
) -> None:
    csrf = sign_in(client, "admin")
    recorded = post(client, intake_form(bridge, csrf)).headers["location"]
    for path in [*PAGES, recorded]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "script-src 'self';" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert re.search(r"<script(?![^>]*\bsrc=)", response.text) is None, path
        assert re.search(r"\son[a-z]+=", response.text) is None, path  # no inline handler


def test_a_post_without_a_session_records_nothing(
    bridge: FacilityBridge, client: TestClient
) -> None:
    before = bridge.snapshot()
    response = post(client, intake_form(bridge, "whatever"))
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert bridge.snapshot() == before


@pytest.mark.parametrize(
    ("name", "path", "status"),
    [
        ("tech", "/facility", 403),
        ("tech", "/facility/intakes/new", 403),
        ("tech", "/reports/impact", 403),
        ("tech", "/reports/impact.csv", 403),
        ("tech", "/reports/impact.html", 403),
        ("sched", "/facility", 200),
        ("sched", "/facility/intakes/new", 403),  # reads facilities, records nothing
        ("sched", "/reports/impact", 200),
        ("fac", "/facility", 200),
        ("fac", "/facility/intakes/new", 200),
        ("fac", "/reports/impact", 200),
        ("admin", "/facility/intakes/new", 200),
    ],
)
def test_the_role_decides_as_the_permission_table_says(
    client: TestClient, name: str, path: str, status: int
) -> None:
    sign_in(client, name)
    assert client.get(path).status_code == status


def test_the_navigation_links_only_the_pages_the_role_may_open(client: TestClient) -> None:
    sign_in(client, "tech")
    page = client.get("/").text
    assert 'href="/facility"' not in page
    assert 'href="/reports/impact"' not in page
    client.cookies.clear()
    sign_in(client, "fac")
    page = client.get("/").text
    assert 'href="/facility"' in page
    assert 'href="/reports/impact"' in page


@pytest.mark.parametrize("name", ["sched", "tech"])
def test_a_forged_post_by_a_role_without_facility_act_is_refused(
    bridge: FacilityBridge, client: TestClient, name: str
) -> None:
    csrf = sign_in(client, name)  # a valid session and CSRF token: only the role is wrong
    before = bridge.snapshot()
    response = post(client, intake_form(bridge, csrf))
    assert response.status_code == 403
    assert bridge.snapshot() == before


def test_a_facility_token_records_only_for_its_facilities(
    bridge: FacilityBridge, client: TestClient
) -> None:
    csrf = sign_in(client, "glass-op")
    form = client.get("/facility/intakes/new").text
    assert 'value="glassworks"' in form
    assert 'value="mrf-north"' not in form  # only the facilities it may act for
    before = bridge.snapshot()
    assert post(client, intake_form(bridge, csrf)).status_code == 403  # forged: mrf-north
    assert bridge.snapshot() == before


@pytest.mark.parametrize(
    ("csrf", "headers"),
    [
        (None, {}),  # no CSRF token
        ("not-the-session-token", {}),
        ("session", {"Origin": "https://evil.example"}),  # the right token, another site
    ],
)
def test_a_post_without_the_csrf_token_or_from_another_origin_is_refused(
    bridge: FacilityBridge, client: TestClient, csrf: str | None, headers: dict[str, str]
) -> None:
    own = sign_in(client, "fac")
    form = intake_form(bridge, own if csrf == "session" else (csrf or ""))
    if csrf is None:
        del form["csrf"]
    before = bridge.snapshot()
    assert post(client, form, **headers).status_code == 403
    assert bridge.snapshot() == before


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"kg-glass": "lots"}, "kg", "glass kg: 'lots' is not a number"),
        ({"kg-glass": HOSTILE}, "kg", "is not a number"),  # shown as text, never markup
        ({"kg-glass": "nan"}, "kg", "not a finite number"),
        ({"kg-glass": "-1"}, "kg", "must not be negative"),
        ({"contaminated-glass": "9"}, "contaminated_kg", "more than the 8.1 kg"),
        ({"count-glass": "many"}, "count", "glass count"),
        ({"pickup": []}, "pickups", "at least one pickup"),
        ({"share-" + "{first}": "1.5"}, "share", "share must be in (0, 1]"),
        ({"kg-glass": "", "count-glass": ""}, "kg", "glass: a count or contamination needs"),
        (
            {"kg-glass": "", "count-glass": "", "contaminated-glass": "", "kg-metal": ""},
            "lines",
            "at least one weighed category",
        ),
        ({"facility_id": "glassworks", "kg-plastic": "1"}, "lines", "does not accept plastic"),
        ({"distance_km": "far"}, "distance_km", "distance_km: 'far' is not a number"),
        ({"distance_km": "1e6"}, "distance_km", "distance_km: at most 100000"),
        ({"count-glass": "1" * 11}, "count", "is not a whole number"),
        ({"note": "n" * 501}, "note", "note: at most 500 characters"),
    ],
)
def test_bad_input_shows_the_form_again_naming_the_field_and_records_nothing(
    bridge: FacilityBridge, client: TestClient, fields: dict[str, Any], field: str, words: str
) -> None:
    csrf = sign_in(client, "fac")
    fields = {key.format(first=bridge.first): value for key, value in fields.items()}
    before = bridge.snapshot()
    response = post(client, intake_form(bridge, csrf, **fields))
    assert response.status_code == 422, response.text
    named, message = error_of(response.text)
    assert named == field
    assert words in message.replace("&#39;", "'")
    assert bridge.snapshot() == before
    assert HOSTILE not in response.text
    # what was typed is still there, to correct
    typed = {k: v for k, v in fields.items() if k.startswith(("kg-", "count-", "share-")) and v}
    for value in typed.values():
        assert f'value="{escape(value)}"' in response.text
    assert f'value="{bridge.first}" checked' in response.text or field == "pickups"


def test_a_pickup_received_already_is_a_conflict_and_records_nothing(
    bridge: FacilityBridge, client: TestClient
) -> None:
    csrf = sign_in(client, "fac")
    assert post(client, intake_form(bridge, csrf)).status_code == 303
    before = bridge.snapshot()
    again = post(client, intake_form(bridge, csrf))
    assert again.status_code == 409
    assert "received already" in error_of(again.text)[1]
    assert bridge.snapshot() == before


def test_a_recorded_intake_shows_its_reconciliation_as_the_api_has_it(
    bridge: FacilityBridge, client: TestClient
) -> None:
    csrf = sign_in(client, "fac")
    before = bridge.snapshot()
    response = post(client, intake_form(bridge, csrf, note=HOSTILE))
    assert response.status_code == 303, response.text
    assert bridge.snapshot()[0] == before[0] + 1
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert 'id="recorded"' in page.text
    rows = dict(
        re.findall(r'<tr data-category="(\w+)"[^>]*>(.*?)</tr>', page.text, flags=re.DOTALL)
    )
    cells = {k: re.findall(r"<td[^>]*>([^<]*)</td>", v) for k, v in rows.items()}
    # declared: glass 6 + 3 = 9, metal 1, plastic 0.5 (not received)
    assert cells["glass"][:5] == ["glass", "9.0", "8.1", "-0.9", "-10.0"]
    assert cells["glass"][-1] == "ok"  # -10 % and 0.9 kg: within tolerance
    assert cells["plastic"][:5] == ["plastic", "0.5", "0.0", "-0.5", "-100.0"]
    # the same intake through the API, recorded by the same service
    (row,) = client.get("/v1/intakes", headers={"Authorization": f"Bearer {token('fac')}"}).json()
    assert page.text.count(row["intake_id"]) >= 1
    assert row["note"] == HOSTILE
    # a note with markup is text on the page
    assert HOSTILE not in page.text
    assert "&lt;script&gt;alert(" in page.text
    # the lot's trace: the bins that fed it
    assert "bin-001" in page.text
    assert "bin-002" in page.text


def test_a_line_beyond_tolerance_is_flagged_on_the_intake_and_the_facility_page(
    bridge: FacilityBridge, client: TestClient
) -> None:
    csrf = sign_in(client, "fac")
    response = post(client, intake_form(bridge, csrf, **{"kg-glass": "5.0"}))
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert re.search(r'<tr data-category="glass" class="flagged">', page)
    assert "beyond tolerance" in page
    listing = client.get("/facility").text
    assert re.search(r'<tr data-intake="in-\w+" class="flagged">', listing)
    assert "beyond tolerance: glass" in listing


def test_a_split_pickup_is_recorded_by_shares(bridge: FacilityBridge, client: TestClient) -> None:
    csrf = sign_in(client, "fac")
    half = {"pickup": [bridge.third], f"share-{bridge.third}": "0.5", "kg-glass": "1.0"}
    for _ in range(2):
        fields = {**half, "kg-metal": "", "count-glass": "", "contaminated-glass": ""}
        assert post(client, intake_form(bridge, csrf, **fields)).status_code == 303
    shares = [p.share for i in bridge.store.list_intakes() for p in i.pickups]
    assert shares == [0.5, 0.5]


def test_the_facility_page_shows_stock_and_bins_by_contamination_with_drift(
    bridge: FacilityBridge, client: TestClient
) -> None:
    csrf = sign_in(client, "admin")
    # bin-003 twice with a third of its glass contaminated: above 10 % over 2 intakes
    for _ in range(2):
        fields = {
            "pickup": [bridge.third],
            f"share-{bridge.third}": "0.5",
            "kg-glass": "1.0",
            "contaminated-glass": "0.3",
            "kg-metal": "",
            "count-glass": "",
        }
        assert post(client, intake_form(bridge, csrf, **fields)).status_code == 303
    lot = bridge.store.list_intakes()[0].intake_id
    restocked = client.post(
        f"/v1/intakes/{lot}/dispositions",
        headers={"Authorization": f"Bearer {token('admin')}"},
        json={"category": "glass", "disposition": "reuse", "kg": 0.5, "restock": True},
    )
    assert restocked.status_code == 201, restocked.text
    page = client.get("/facility").text
    assert re.search(r'<tr data-bin="bin-003" class="drift">', page)
    assert "drift ticket open" in page  # an admin reads tickets
    stock = re.search(r'<table id="stock">.*?</table>', page, flags=re.DOTALL)
    assert stock is not None
    assert "glass" in stock.group(0)
    assert "0.5" in stock.group(0)
    assert page.count(f'href="/facility/intakes/{lot}"') == 1
    client.cookies.clear()
    sign_in(client, "fac")  # no tickets:read: the row is still marked, without the ticket
    page = client.get("/facility").text
    assert re.search(r'<tr data-bin="bin-003" class="drift">', page)
    assert "drift ticket open" not in page


def test_an_unknown_intake_is_not_found(client: TestClient) -> None:
    sign_in(client, "sched")
    assert client.get("/facility/intakes/in-nothing").status_code == 404


def test_the_impact_page_shows_the_figures_charts_and_links(
    bridge: FacilityBridge, client: TestClient
) -> None:
    csrf = sign_in(client, "fac")
    assert post(client, intake_form(bridge, csrf)).status_code == 303
    page = client.get(f"/reports/impact?{PERIOD}")
    assert page.status_code == 200
    figures = dict(re.findall(r'data-figure="(\w+)"><span class="value">([^<]*)</span>', page.text))
    assert figures["kg_collected"] == "12.5"  # 7 + 3.5 + 2 kg declared by three pickups
    assert figures["kg_received"] == "9.1"
    assert figures["collections"] == "3"
    assert set(figures) >= {
        "diversion_rate_pct",
        "contamination_rate_pct",
        "km_driven",
        "co2e_avoided_kg",
        "co2e_truck_kg",
        "co2e_net_kg",
    }
    assert "US EPA WARM" in page.text  # the factor set, named
    assert 'id="materials-chart"><svg' in page.text
    assert 'data-day="2026-11-23"' in page.text  # the daily series, a bar a day
    # no inline script: the charts are drawn on the server
    assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None
    html = client.get(f"/reports/impact.html?{PERIOD}")
    assert html.status_code == 200
    assert "<svg" in html.text
    policy = html.headers["content-security-policy"]
    assert "script-src 'self';" in policy  # inline styles for the report, never scripts
    assert 'href="/reports/impact.html?from=2026-11-01&amp;to=2026-11-30"' in page.text
    csv = client.get(f"/reports/impact.csv?{PERIOD}")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[-1].startswith("total,12.5,9.1")


def test_the_impact_page_defaults_to_the_last_30_days_and_filters_by_region(
    bridge: FacilityBridge, client: TestClient
) -> None:
    sign_in(client, "sched")
    page = client.get("/reports/impact").text
    assert 'value="2026-10-25"' in page
    assert 'value="2026-11-23"' in page
    south = client.get(f"/reports/impact?{PERIOD}&region=south").text
    assert re.search(r'data-figure="collections"><span class="value">0<', south)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=yesterday&to=2026-11-30", "from"),
        ("from=2026-11-01", "to"),
        ("from=2026-11-30&to=2026-11-01", "to"),
        (f"{PERIOD}&region=%3Cscript%3E", "region"),
    ],
)
def test_a_bad_period_names_the_field(client: TestClient, query: str, field: str) -> None:
    sign_in(client, "fac")
    for path in ("/reports/impact", "/reports/impact.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 422
        assert error_of(response.text)[0] == field
        assert "<script>" not in response.text.split("<main>")[1]


def test_the_runtime_hands_the_engines_writer_to_the_dashboard(tmp_path: Path) -> None:
    """``bin-bridge run`` records intakes from the form through the engine's single writer
    (the pages above run on a stand-in with the same method)."""
    settings = validate_settings(facility_settings(tmp_path / "bridge.db", api={"port": 0}))
    runtime = BridgeRuntime(settings)
    try:
        assert runtime.api is not None
        dashboard = runtime.api._app.state.dashboard
        assert dashboard.actions is runtime.bridge
        assert [site.id for site in dashboard.facilities.sites] == ["mrf-north", "glassworks"]
    finally:
        runtime._close()  # built, never started


class StoppedBridge:
    """A writer that has stopped: every action is refused as the engine refuses it."""

    def facility(self, action: Any) -> Any:
        raise Unavailable("the bridge is stopping: try again when it runs")


@pytest.mark.parametrize(("actions", "words"), [(None, "only reads"), (StoppedBridge(), "stop")])
def test_a_bridge_that_cannot_record_answers_503_and_records_nothing(
    bridge: FacilityBridge, client: TestClient, actions: Any, words: str
) -> None:
    bridge.app.state.dashboard.actions = actions
    csrf = sign_in(client, "fac")
    before = bridge.snapshot()
    response = post(client, intake_form(bridge, csrf))
    assert response.status_code == 503
    assert words in error_of(response.text)[1]
    assert bridge.snapshot() == before
