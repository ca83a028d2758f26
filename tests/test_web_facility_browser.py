"""The facility pages in a real browser: Playwright driving Debian's Chromium headless.

A facility operator signs in, records an intake through the form (two collected
pickups, glass and metal weighed) and sees its reconciliation; then opens the impact
page and sees the figures and the server-drawn charts. No page raises an error (a CSP
violation is one). ``REVLOOP_SCREENSHOT=1`` also saves the intake's reconciliation and
the impact page to docs/images/. Skipped, saying why, where /usr/bin/chromium or the
playwright package is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from cloud_bridge.api.server import ApiServer
from cloud_bridge.services.facility import DispositionRequest, FacilityService
from tests.support.dashboard import token
from tests.support.facility_dashboard import FacilityBridge, facility_dashboard

CHROMIUM = Path("/usr/bin/chromium")
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images"

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing (the dev extra has it)"
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FacilityBridge, str]]:
    with facility_dashboard(tmp_path) as bridge:
        api = ApiServer(bridge.app, "127.0.0.1", 0)
        api.start()
        try:
            yield bridge, api.url
        finally:
            api.stop()


@pytest.fixture
def page(served: tuple[FacilityBridge, str]) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(
                base_url=served[1], viewport={"width": 1280, "height": 800}
            )
            yield context.new_page()
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> None:
    if os.environ.get("REVLOOP_SCREENSHOT"):
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / name), full_page=True)


def test_an_operator_records_an_intake_and_reads_the_impact(
    page: Any, served: tuple[FacilityBridge, str]
) -> None:
    bridge, _ = served
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))

    page.goto("/facility")
    assert page.url.endswith("/login")
    page.fill("#token", token("fac"))
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    page.click("nav.pages >> text=Facility")
    page.wait_for_url("**/facility")
    page.click("#new-intake")
    page.wait_for_url("**/facility/intakes/new")

    page.select_option("#facility_id", "mrf-north")
    page.check(f'input[name=pickup][value="{bridge.first}"]')
    page.check(f'input[name=pickup][value="{bridge.second}"]')
    page.fill("#kg-glass", "6.5")  # 9 kg declared: 2.5 kg short, beyond tolerance
    page.fill("#count-glass", "15")
    page.fill("#contaminated-glass", "0.4")
    page.fill("#kg-metal", "1.0")
    page.fill("#note", "load 1 of the morning")
    page.click("#record")
    page.wait_for_url("**/facility/intakes/in-*")

    page.locator("#recorded").wait_for()
    glass = page.locator('#reconciliation tr[data-category="glass"]')
    assert glass.get_attribute("class") == "flagged"
    assert "beyond tolerance" in glass.text_content()
    metal = page.locator('#reconciliation tr[data-category="metal"]')
    assert "ok" in metal.locator("td.flag").text_content()
    assert page.locator("#trace tbody tr").count() == 2  # bin-001 and bin-002
    assert len(bridge.store.list_intakes()) == 1
    screenshot(page, "facility-intake.png")

    # the lot is sorted (through the service, as the API's dispositions route does)
    (lot,) = bridge.store.list_intakes()
    for category, disposition, kg in (
        ("glass", "reuse", 1.0),
        ("glass", "recycle", 5.0),
        ("glass", "dispose", 0.5),
        ("metal", "recycle", 1.0),
    ):
        decided = DispositionRequest(lot.intake_id, category, disposition, kg)
        bridge.actions.facility(
            partial(FacilityService.record_disposition, request=decided, actor="fac")
        )

    page.click("nav.pages >> text=Impact")
    page.wait_for_url("**/reports/impact")
    page.fill("#from", "2026-11-01")
    page.fill("#to", "2026-11-30")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/reports/impact?*")
    received = page.locator('[data-figure="kg_received"] .value')
    assert received.text_content() == "7.5"
    assert page.locator('[data-figure="collections"] .value').text_content() == "3"
    assert page.locator('[data-figure="diversion_rate_pct"] .value').text_content() == "93.33"
    assert "US EPA WARM" in page.locator("#factor-set").text_content()
    assert page.locator("#materials-chart svg rect").count() >= 2
    assert page.locator('#daily-chart rect[data-day="2026-11-23"]').count() == 1
    assert page.locator("#report-html").get_attribute("href").startswith("/reports/impact.html?")
    screenshot(page, "impact.png")
    assert errors == []
