"""The pickup board over TestClient: who sees it, who may act, CSRF on every form, the
schedule rules shared with the API (not in the past, not after due_by unless
confirmed), the columns a pickup moves between, escaping."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud_bridge.domain.records import PickupRecord
from tests.support.dashboard import HOSTILE, NOW, WriterActions, dashboard_app, token
from tests.test_web import BASE, FORM, csrf_of

Board = tuple[TestClient, WriterActions]


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    writer: list[WriterActions] = []
    with (
        dashboard_app(tmp_path, writer=writer) as app,
        TestClient(app, base_url=BASE) as client,
    ):
        yield client, writer[0]


def sign_in(client: TestClient, name: str = "sched") -> str:
    """Sign in as ``name``; the session's CSRF token."""
    csrf = csrf_of(client.get("/login").text)
    response = client.post(
        "/login", data={"token": token(name), "csrf": csrf}, headers=FORM, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)


def the_pickup(writer: WriterActions) -> PickupRecord:
    """bin-001's open pickup (the seeded store's only one)."""
    (pickup,) = writer.processor.pickups.lifecycle.open.values()
    return pickup


def column_of(html: str, pickup_id: str) -> str:
    """The board column that shows ``pickup_id``."""
    for column in ("requested", "scheduled", "escalated"):
        section = html.split(f'id="col-{column}"', 1)[1].split("</section>", 1)[0]
        if f'data-pickup="{pickup_id}"' in section:
            return column
    raise AssertionError(f"{pickup_id} is on no column")


def utc_input(delta: timedelta) -> str:
    """A datetime-local value ``delta`` from the bridge's now."""
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M")


def test_board_without_a_session_redirects_and_roles_decide(board: Board) -> None:
    client, writer = board
    pid = the_pickup(writer).pickup_id
    response = client.get("/pickups", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    post = client.post(f"/pickups/{pid}/acknowledge", data={}, headers=FORM, follow_redirects=False)
    assert (post.status_code, post.headers["location"]) == (303, "/login")
    sign_in(client, "tech")  # technicians do not read pickups (pickups:read)
    assert client.get("/pickups").status_code == 403
    sign_in(client, "fac")  # facility staff read them but do not act
    page = client.get("/pickups")
    assert page.status_code == 200
    assert pid in page.text
    assert "/acknowledge" not in page.text
    assert "Schedule</button>" not in page.text
    assert writer.calls == 0


def test_the_board_shows_each_card(board: Board) -> None:
    client, writer = board
    pickup = the_pickup(writer)
    sign_in(client)
    page = client.get("/pickups")
    assert page.status_code == 200
    assert column_of(page.text, pickup.pickup_id) == "requested"
    card = page.text.split(f'data-pickup="{pickup.pickup_id}"', 1)[1].split("</article>")[0]
    for shown in ("bin-001", "93.0 %", pickup.priority, "Due by", "Predicted full"):
        assert shown in card
    # the manifest: accepted deposits per category (the rejected metal is not in it)
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\d+)</td><td>([\d.]+)</td></tr>", card)
    assert rows == [("glass", "1", "0.5"), ("plastic", "1", "0.03")]
    assert 'name="csrf"' in card
    assert "<script" not in page.text  # no inline script (CSP)


@pytest.mark.parametrize("role", ["fac", "tech"])
def test_a_forged_action_from_a_role_without_pickups_act_changes_nothing(
    board: Board, role: str
) -> None:
    client, writer = board
    pid = the_pickup(writer).pickup_id
    csrf = sign_in(client, role)  # a valid session and CSRF token: only the role is wrong
    for action, data in (
        ("acknowledge", {}),
        ("schedule", {"scheduled_for": utc_input(timedelta(hours=1))}),
        ("cancel", {"reason": "forged"}),
    ):
        refused = client.post(f"/pickups/{pid}/{action}", data={"csrf": csrf, **data}, headers=FORM)
        assert refused.status_code == 403, action
    assert writer.calls == 0
    pickup = the_pickup(writer)
    assert (pickup.status, pickup.acknowledged_at) == ("requested", None)


def test_an_action_without_the_csrf_token_or_from_elsewhere_is_refused(board: Board) -> None:
    client, writer = board
    pid = the_pickup(writer).pickup_id
    csrf = sign_in(client)
    assert client.post(f"/pickups/{pid}/acknowledge", data={}, headers=FORM).status_code == 403
    guessed = {"csrf": "guess"}
    assert client.post(f"/pickups/{pid}/acknowledge", data=guessed, headers=FORM).status_code == 403
    elsewhere = {"Origin": "https://evil.example"}
    response = client.post(f"/pickups/{pid}/acknowledge", data={"csrf": csrf}, headers=elsewhere)
    assert response.status_code == 403
    unknown = client.post(f"/pickups/{pid}/explode", data={"csrf": csrf}, headers=FORM)
    assert unknown.status_code == 404
    assert writer.calls == 0
    assert the_pickup(writer).acknowledged_at is None


def test_acknowledge_then_schedule_moves_the_card_and_keeps_the_note(board: Board) -> None:
    client, writer = board
    pid = the_pickup(writer).pickup_id
    csrf = sign_in(client)
    done = client.post(
        f"/pickups/{pid}/acknowledge", data={"csrf": csrf}, headers=FORM, follow_redirects=False
    )
    assert done.status_code == 303
    page = client.get(done.headers["location"])
    assert f"Pickup {pid} acknowledged." in page.text
    assert column_of(page.text, pid) == "requested"
    assert the_pickup(writer).acknowledged_at == NOW
    when = utc_input(timedelta(hours=1))
    done = client.post(
        f"/pickups/{pid}/schedule",
        data={"csrf": csrf, "scheduled_for": when, "note": f"truck 2 {HOSTILE}"},
        headers=FORM,
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    page = client.get("/pickups")
    assert column_of(page.text, pid) == "scheduled"
    assert the_pickup(writer).scheduled_for == NOW + timedelta(hours=1)
    # the note is kept and shown, as text
    assert "truck 2 &lt;script&gt;" in page.text
    assert HOSTILE not in page.text


def test_schedule_refuses_the_past_and_after_due_by_unless_confirmed(board: Board) -> None:
    client, writer = board
    pickup = the_pickup(writer)
    pid = pickup.pickup_id
    csrf = sign_in(client)
    past = client.post(
        f"/pickups/{pid}/schedule",
        data={"csrf": csrf, "scheduled_for": utc_input(-timedelta(hours=3))},
        headers=FORM,
    )
    assert past.status_code == 422
    assert "in the past" in past.text
    late = (pickup.due_by + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(
        f"/pickups/{pid}/schedule", data={"csrf": csrf, "scheduled_for": late}, headers=FORM
    )
    assert refused.status_code == 409
    assert "after the pickup&#39;s due_by" in refused.text
    assert the_pickup(writer).status == "requested"
    garbled = client.post(
        f"/pickups/{pid}/schedule", data={"csrf": csrf, "scheduled_for": "soon"}, headers=FORM
    )
    assert garbled.status_code == 422
    confirmed = client.post(
        f"/pickups/{pid}/schedule",
        data={"csrf": csrf, "scheduled_for": late, "confirm": "yes"},
        headers=FORM,
        follow_redirects=False,
    )
    assert confirmed.status_code == 303
    assert the_pickup(writer).status == "scheduled"


def test_cancel_needs_a_reason_and_takes_the_card_off_the_board(board: Board) -> None:
    client, writer = board
    pid = the_pickup(writer).pickup_id
    csrf = sign_in(client)
    empty = client.post(f"/pickups/{pid}/cancel", data={"csrf": csrf, "reason": " "}, headers=FORM)
    assert empty.status_code == 422
    assert writer.calls == 0
    done = client.post(
        f"/pickups/{pid}/cancel",
        data={"csrf": csrf, "reason": "bin moved"},
        headers=FORM,
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert not writer.processor.pickups.lifecycle.open
    page = client.get("/pickups")
    assert pid not in page.text
    # a second cancel meets a closed pickup: refused, with the service's words
    again = client.post(f"/pickups/{pid}/cancel", data={"csrf": csrf, "reason": "x"}, headers=FORM)
    assert again.status_code == 409
    assert "cancelled" in again.text


def test_the_card_escapes_what_it_shows(board: Board) -> None:
    client, writer = board
    pid = the_pickup(writer).pickup_id
    csrf = sign_in(client)
    client.post(
        f"/pickups/{pid}/schedule",
        data={"csrf": csrf, "scheduled_for": utc_input(timedelta(hours=1)), "note": HOSTILE},
        headers=FORM,
    )
    page = client.get("/pickups")
    assert HOSTILE not in page.text
    assert re.search(r"&lt;script&gt;alert\(&#34;x&#34;\)&lt;/script&gt;", page.text)
