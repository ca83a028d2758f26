"""The dashboard in a real browser: Playwright driving Debian's Chromium headless.

Signs in as a scheduler on a seeded bridge store served by uvicorn, then checks that
every bin is in the table and on the map, that sorting and filtering work, that the
page raised no error (a CSP violation is one) and that /docs draws Swagger UI from
the bridge's own files. Skipped, saying why, where /usr/bin/chromium or the playwright
package is missing (``.ci/run`` installs both). ``REVLOOP_SCREENSHOT=1`` also saves
the fleet page to docs/images/fleet.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud_bridge.api.server import ApiServer
from tests.support.dashboard import BINS, HOSTILE, NOW, WriterActions, dashboard_app, token

CHROMIUM = Path("/usr/bin/chromium")
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"
SCREENSHOT = IMAGES / "fleet.png"

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing (the dev extra has it)"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    writer: list[WriterActions] = []  # the board's forms act through the seeded processor
    with dashboard_app(tmp_path, writer=writer) as app:
        api = ApiServer(app, "127.0.0.1", 0)
        api.start()
        try:
            yield api.url
        finally:
            api.stop()


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 800})
            yield context.new_page()
        finally:
            browser.close()


def test_scheduler_sees_every_bin_in_the_table_and_on_the_map(page: Any) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))

    page.goto("/")
    assert page.url.endswith("/login")  # no session: the sign-in first
    page.fill("#token", token("sched"))
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert "token" not in page.url

    rows = page.locator("#bins tbody tr")
    assert rows.count() == len(BINS)
    assert [rows.nth(i).get_attribute("data-bin") for i in range(len(BINS))] == list(BINS)
    markers = page.locator("#map g.bin")
    markers.first.wait_for()
    assert sorted(markers.nth(i).get_attribute("data-bin") for i in range(markers.count())) == list(
        BINS
    )
    # a status is a letter too, not colour alone
    assert page.locator('#map g.bin[data-bin="bin-002"] text').text_content() == "O"
    assert page.locator('#map g.bin[data-bin="bin-001"] text').text_content() == "L"
    assert page.locator("#map g.scale text").text_content().endswith(("m", "km"))
    # what a bin reports is shown as text, never run
    assert HOSTILE in page.locator('#bins tr[data-bin="bin-003"]').text_content()

    page.click('th[data-key="fill_pct"] button')
    assert rows.first.get_attribute("data-bin") == "bin-004"  # 5 % first
    page.click('th[data-key="fill_pct"] button')
    assert rows.first.get_attribute("data-bin") == "bin-001"  # 93 % first
    page.fill("#filter", "north")
    assert page.locator("#bins tbody tr:visible").count() == 2
    page.fill("#filter", "")
    page.select_option("#status-filter", "offline")
    assert page.locator("#bins tbody tr:visible").count() == 1
    page.select_option("#status-filter", "")

    if os.environ.get("REVLOOP_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == []

    page.click("text=Sign out")
    page.wait_for_url("**/login")


def test_docs_draws_swagger_ui_from_local_files(page: Any, server: str) -> None:
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto("/docs")
    page.locator(".swagger-ui .information-container").wait_for(timeout=15_000)
    assert "Revloop bridge API" in page.locator(".swagger-ui .info").text_content()
    assert all(url.startswith((server, "data:")) for url in requested), requested
    assert errors == []  # the CSP refused nothing Swagger UI needs


def sign_in(page: Any, name: str = "sched") -> None:
    """Sign in through the form as ``name``."""
    page.goto("/login")
    page.fill("#token", token(name))
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def test_scheduler_acknowledges_and_schedules_a_pickup_on_the_board(page: Any) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    sign_in(page)
    page.click("nav.pages >> text=Pickups")
    page.wait_for_url("**/pickups")
    card = page.locator("#col-requested article.card")
    assert card.count() == 1
    pickup_id = card.get_attribute("data-pickup")
    assert "bin-001" in card.text_content()
    assert card.locator(".acknowledged").text_content() == "no"

    card.locator("button", has_text="Acknowledge").click()
    page.wait_for_url("**/pickups?done=acknowledged*")
    assert "acknowledged" in page.locator(".notice").text_content()
    card = page.locator(f'#col-requested article[data-pickup="{pickup_id}"]')
    assert card.locator(".acknowledged").text_content() != "no"
    assert card.locator("button", has_text="Acknowledge").count() == 0

    when = (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    card.locator('input[name="scheduled_for"]').fill(when)
    card.locator('input[name="note"]').fill("truck 2")
    card.locator("button", has_text="Schedule").click()
    page.wait_for_url("**/pickups?done=scheduled*")
    assert page.locator("#col-requested article.card").count() == 0
    moved = page.locator(f'#col-scheduled article[data-pickup="{pickup_id}"]')
    assert moved.locator(".note").text_content() == "truck 2"
    assert moved.locator(".scheduled-for").text_content().startswith(when)

    if os.environ.get("REVLOOP_SCREENSHOT"):
        page.screenshot(path=str(IMAGES / "pickups.png"), full_page=True)
    assert errors == []


def test_scheduler_opens_a_bin_from_the_fleet_table_and_sees_its_chart(page: Any) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    sign_in(page)
    page.click('#bins tr[data-bin="bin-003"] a')
    page.wait_for_url("**/bins/bin-003")
    chart = page.locator("#fill-chart")
    assert chart.is_visible()
    assert "predicted" in chart.get_attribute("aria-label")
    assert chart.locator("polyline.fill-line").count() == 1
    assert chart.locator("polygon.band").count() == 1
    assert chart.locator("g.mark-E text").text_content() == "E"
    assert page.locator("#health").text_content().count("degraded") == 1
    # the bin's own words are text, never run
    assert HOSTILE in page.locator("#flags").text_content()
    if os.environ.get("REVLOOP_SCREENSHOT"):
        page.screenshot(path=str(IMAGES / "bin.png"), full_page=True)
    # and back: the map's markers open bin pages too
    page.goto("/")
    page.locator('#map a g.bin[data-bin="bin-001"]').click()
    page.wait_for_url("**/bins/bin-001")
    assert errors == []
