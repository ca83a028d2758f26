"""The bin page over TestClient: sign-in first, what each role sees (the API's
permission table), the server-drawn chart with the forecast band and lettered marks,
health, deposits, flags, configuration and tickets, escaping, and the links to it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud_bridge.domain.forecast import Forecast
from cloud_bridge.views.bin_page import History
from cloud_bridge.web.chart import LONGEST_AHEAD, WIDTH, fill_chart
from tests.support.dashboard import BINS, HISTORY, HOSTILE, NOW, dashboard_app
from tests.test_web import BASE, sign_in

ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with dashboard_app(tmp_path) as app, TestClient(app, base_url=BASE) as test_client:
        yield test_client


def section(html: str, section_id: str) -> str:
    """The markup of ``<section id=section_id>``."""
    return html.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


def test_the_bin_page_needs_a_session(client: TestClient) -> None:
    response = client.get("/bins/bin-003", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_the_chart_is_drawn_on_the_server_with_the_forecast_and_marks(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/bins/bin-003")
    assert page.status_code == 200
    svg = page.text.split('<svg id="fill-chart"', 1)[1].split("</svg>", 1)[0]
    line = re.search(r'<polyline class="fill-line" points="([^"]+)"', svg)
    assert line is not None
    # every reading: the one before the emptying, the one after, and the refill
    assert len(line.group(1).split()) == 2 + len(HISTORY)
    assert '<polygon class="band"' in svg  # the p10-p90 band up to full
    assert 'class="forecast"' in svg
    assert 'class="full"' in svg
    # the emptying is a lettered mark with its words, not a colour
    assert re.search(r'<g class="event mark-E"><title>emptied 23 Nov 06:00</title>', svg)
    assert "predicted" in page.text
    assert "<script" not in page.text  # no inline script: the chart needs none


def test_health_deposits_and_flags_in_words(client: TestClient) -> None:
    sign_in(client)
    page = client.get("/bins/bin-003").text
    health = section(page, "health")
    assert '<th>camera</th><td class="sensor-degraded">degraded</td>' in health
    for shown in ("20000.0 MB", "0 waiting", "100.0 s", "agent 0.1.0, model m1, config 3"):
        assert shown in health
    deposits = client.get("/bins/bin-001").text
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\d+)</td><td>(\d+)</td></tr>", deposits)
    assert rows == [("glass", "1", "0"), ("metal", "0", "1"), ("plastic", "1", "0")]
    flags = section(page, "flags")
    assert "fault" in flags
    assert "active" in flags


def test_the_role_decides_pickups_config_and_tickets(client: TestClient) -> None:
    sign_in(client, "sched")
    page = client.get("/bins/bin-001").text
    assert 'id="pickups"' in page
    assert 'id="tickets"' not in page
    assert 'id="config"' not in page
    sign_in(client, "tech")
    page = client.get("/bins/bin-003").text
    assert 'id="pickups"' not in page
    assert "camera_fault" in section(page, "tickets")
    config = section(page, "config")
    assert "none pushed" in config
    assert "3 applied" in config


def test_what_a_bin_reports_is_escaped(client: TestClient) -> None:
    sign_in(client, "tech")
    page = client.get("/bins/bin-003").text
    assert HOSTILE not in page
    assert ESCAPED in section(page, "flags")
    assert ESCAPED in section(page, "tickets")
    missing = client.get("/bins/<b>nope")
    assert missing.status_code == 404
    assert "<b>nope" not in missing.text
    assert "&lt;b&gt;nope" in missing.text


def test_the_fleet_table_and_the_board_link_each_bin(client: TestClient) -> None:
    sign_in(client)
    fleet = client.get("/").text
    for bin_id in BINS:
        assert f'<a href="/bins/{bin_id}">{bin_id}</a>' in fleet
    assert '<a class="id" href="/bins/bin-001">bin-001</a>' in client.get("/pickups").text
    # every bin's page opens, an offline one and one without a forecast included
    for bin_id in BINS:
        assert client.get(f"/bins/{bin_id}").status_code == 200


def test_the_chart_without_readings_says_so_and_a_far_forecast_is_cut() -> None:
    empty = fill_chart(History([], None, [], NOW))
    assert empty.empty
    assert "No fill readings" in empty.summary
    far = Forecast(
        predicted_full_at=NOW + timedelta(days=30),
        low=NOW + timedelta(days=20),
        high=NOW + timedelta(days=40),
        rate_pct_per_h=0.1,
        level_pct=20.0,
        method="linear",
        points=5,
        computed_at=NOW,
        full_pct=95.0,
    )
    chart = fill_chart(History([(NOW - timedelta(hours=1), 19.0)], far, [], NOW))
    assert not chart.empty
    # the x axis ends about a week ahead (not 40 days): the band is cut at its edge
    assert chart.x_ticks[-1].label.startswith(f"{NOW + LONGEST_AHEAD:%d %b}")
    xs = [float(point.split(",")[0]) for point in chart.band.split()]
    assert max(xs) <= WIDTH
    assert "predicted" in chart.summary
