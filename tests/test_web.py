"""The dashboard over TestClient: sign-in and sessions, CSRF, security headers, the
permission table shared with the API, escaping, the fleet page's data and /docs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud_bridge.domain.access import PERMISSIONS
from cloud_bridge.errors import SettingsError
from cloud_bridge.views.fleet import fill_band
from cloud_bridge.web.session import COOKIE, Session, SessionSigner, session_key
from tests.support.dashboard import BINS, HOSTILE, KEY, NOW, dashboard_app, token

BASE = "http://testserver"
FORM = {"Origin": BASE}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with dashboard_app(tmp_path) as app, TestClient(app, base_url=BASE) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF field in the form"
    return found.group(1)


def sign_in(client: TestClient, name: str = "sched") -> str:
    """Sign in as ``name``; the CSRF token of the signed-in session."""
    csrf = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"token": token(name), "csrf": csrf}, headers=FORM, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    return csrf_of(client.get("/").text)


@pytest.mark.parametrize("path", ["/", "/?region=north"])
def test_pages_without_a_session_redirect_to_the_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/web/fleet.json").status_code == 401


def test_sign_in_static_and_docs_need_no_session(client: TestClient) -> None:
    assert client.get("/login").status_code == 200
    assert client.get("/static/fleet.js").status_code == 200
    assert client.get("/static/vendor/swagger-ui-5.32.6/swagger-ui-bundle.js").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200
    # Swagger UI from the bridge's own files, never from a CDN
    assert "/static/vendor/swagger-ui-5.32.6/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert "<script>" not in docs.text


def test_session_cookie_is_http_only_strict_and_expires(client: TestClient) -> None:
    csrf = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"token": token("sched"), "csrf": csrf}, headers=FORM, follow_redirects=False
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert re.search(r"Max-Age=(28800|2879\d)\b", cookie)  # web.session_ttl_s
    assert "Secure" not in cookie  # plain http in the test
    assert token("sched") not in cookie  # only the token's digest, signed
    assert token("sched") not in response.headers.get("location", "")


def test_cookie_is_secure_over_https(tmp_path: Path) -> None:
    with (
        dashboard_app(tmp_path) as app,
        TestClient(app, base_url="https://testserver") as secure,
    ):
        cookie = secure.get("/login").headers["set-cookie"]
        assert "; Secure" in cookie


def test_unknown_token_is_refused_and_sign_out_ends_the_session(client: TestClient) -> None:
    csrf = csrf_of(client.get("/login").text)
    refused = client.post("/login", data={"token": "wrong", "csrf": csrf}, headers=FORM)
    assert refused.status_code == 401
    assert "Unknown token" in refused.text
    csrf = sign_in(client)
    assert client.get("/", follow_redirects=False).status_code == 200
    out = client.post("/logout", data={"csrf": csrf}, headers=FORM, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_cross_site_posts_are_refused(client: TestClient) -> None:
    csrf = csrf_of(client.get("/login").text)
    # another origin, even with the right field: refused
    other = client.post(
        "/login",
        data={"token": token("admin"), "csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert other.status_code == 403
    # this origin without the session's CSRF token: refused
    forged = client.post("/login", data={"token": token("admin"), "csrf": "guess"}, headers=FORM)
    assert forged.status_code == 403
    csrf = sign_in(client)
    assert client.post("/logout", data={"csrf": "guess"}, headers=FORM).status_code == 403
    assert client.post("/logout", data={"csrf": csrf}, headers={}).status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_forged_or_expired_sessions_are_ignored() -> None:
    signer = SessionSigner(KEY)
    session = Session.signed_in("ab" * 32, NOW, ttl=timedelta(hours=1))
    value = signer.dump(session)
    assert signer.load(value, NOW) == session
    assert signer.load(value, session.expires) is None
    assert SessionSigner(b"x" * 32).load(value, NOW) is None
    body, mac = value.rsplit(".", 1)
    assert signer.load(body[:-2] + "AA." + mac, NOW) is None


def test_security_headers_on_pages_not_on_the_api(client: TestClient) -> None:
    for path in ("/login", "/static/fleet.js", "/docs"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'"  # no inline script, no CDN
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
    api = client.get("/v1/bins", headers={"Authorization": f"Bearer {token('sched')}"})
    assert api.status_code == 200
    assert "content-security-policy" not in api.headers


def test_pages_have_no_inline_script(client: TestClient) -> None:
    sign_in(client)
    for path in ("/", "/login", "/docs"):
        html = client.get(path).text
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, path
        assert re.search(r"<[^>]*\son[a-z]+\s*=", html) is None, path  # no inline handler


def test_fleet_page_shows_every_bin_and_escapes_what_bins_report(client: TestClient) -> None:
    sign_in(client, "sched")
    html = client.get("/").text
    for bin_id in BINS:
        assert f'data-bin="{bin_id}"' in html
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    data = client.get("/web/fleet.json").json()
    assert [row["bin_id"] for row in data["bins"]] == list(BINS)
    counts = data["counts"]
    assert counts["bins"] == 4
    assert counts["offline"] == 1
    assert counts["open_pickups"] == 1
    assert counts["full_within_24h"] >= 1
    assert counts["open_tickets"] is None  # schedulers read no tickets
    status = {row["bin_id"]: row["status"] for row in data["bins"]}
    assert status == {"bin-001": "locked", "bin-002": "offline", "bin-003": "fault",
                      "bin-004": "ok"}  # fmt: skip
    assert data["bins"][0]["band"] == "full"


def test_role_decides_what_the_fleet_page_shows(client: TestClient) -> None:
    # the same table as the API: technicians read tickets, not pickups
    assert "technician" in PERMISSIONS["tickets:read"]
    assert "technician" not in PERMISSIONS["pickups:read"]
    sign_in(client, "tech")
    counts = client.get("/web/fleet.json").json()["counts"]
    assert counts["open_pickups"] is None
    assert counts["open_tickets"] is not None


def test_a_token_removed_from_the_settings_ends_its_sessions(tmp_path: Path) -> None:
    with dashboard_app(tmp_path) as app, TestClient(app, base_url=BASE) as test_client:
        sign_in(test_client, "admin")
        app.state.dashboard.tokens = type(app.state.dashboard.tokens)({})
        assert test_client.get("/", follow_redirects=False).status_code == 303


def test_fill_bands() -> None:
    assert [fill_band(v) for v in (None, 0.0, 49.9, 50.0, 75.0, 90.0, 100.0)] == [
        "unknown", "low", "low", "medium", "high", "full", "full"]  # fmt: skip


def test_session_key_from_the_environment() -> None:
    assert session_key("K", {"K": "s" * 32}) == b"s" * 32
    assert len(session_key("K", {})) == 32  # made for this process, with a warning
    with pytest.raises(SettingsError, match="at least 32"):
        session_key("K", {"K": "short"})


def test_tile_host_joins_the_csp_and_the_map(tmp_path: Path) -> None:
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    with (
        dashboard_app(tmp_path, tile_url=tiles, tile_attribution="<b>Tiles</b>") as app,
        TestClient(app, base_url=BASE) as test_client,
    ):
        sign_in(test_client)
        page = test_client.get("/")
        assert (
            "img-src 'self' data: https://tiles.example.org;"
            in (page.headers["content-security-policy"])
        )
        assert f'data-tile-url="{tiles}"' in page.text
        assert "&lt;b&gt;Tiles&lt;/b&gt;" in page.text


def test_disabled_dashboard_keeps_docs_and_static(tmp_path: Path) -> None:
    with (
        dashboard_app(tmp_path, enabled=False) as app,
        TestClient(app, base_url=BASE) as test_client,
    ):
        assert test_client.get("/", follow_redirects=False).status_code == 404
        assert test_client.get("/login").status_code == 404
        assert test_client.get("/docs").status_code == 200
        assert test_client.get("/static/vendor/VENDORED.md").status_code == 200
