"""The API's schedule route keeps the rules the dashboard's board keeps (both call the
pickup service): never in the past (422), after ``due_by`` only with ``confirm: true``
(409 otherwise); the new field is in the OpenAPI document."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from protocol import format_ts
from tests.test_api import NOW, DirectActions, auth, harness, open_pickup

__all__ = ["harness"]  # the fixture, imported for pytest

Harness = tuple[TestClient, DirectActions]


def test_a_time_in_the_past_is_refused_with_422(harness: Harness) -> None:
    client, actions = harness
    pid = open_pickup(client)["pickup_id"]
    past = format_ts(NOW - timedelta(hours=2))
    response = client.post(
        f"/v1/pickups/{pid}/schedule", headers=auth("sched"), json={"scheduled_for": past}
    )
    assert response.status_code == 422
    assert "in the past" in str(response.json())
    assert actions.published == []


def test_after_due_by_needs_confirm(harness: Harness) -> None:
    client, actions = harness
    pickup = open_pickup(client)
    pid = pickup["pickup_id"]
    due_by = datetime.fromisoformat(pickup["due_by"].replace("Z", "+00:00"))
    late = format_ts(due_by + timedelta(hours=1))
    refused = client.post(
        f"/v1/pickups/{pid}/schedule", headers=auth("sched"), json={"scheduled_for": late}
    )
    assert refused.status_code == 409
    assert "after the pickup's due_by" in refused.json()["detail"]
    assert client.get(f"/v1/pickups/{pid}", headers=auth("sched")).json()["status"] == "requested"
    assert actions.published == []
    on_time = format_ts(due_by)  # due_by itself is not late
    kept = client.post(
        f"/v1/pickups/{pid}/schedule",
        headers=auth("sched"),
        json={"scheduled_for": late, "confirm": True, "note": "the truck is booked"},
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["status"] == "scheduled"
    again = client.post(
        f"/v1/pickups/{pid}/schedule", headers=auth("sched"), json={"scheduled_for": on_time}
    )
    assert again.status_code == 200


def test_confirm_is_documented(harness: Harness) -> None:
    client, _ = harness
    spec = client.get("/openapi.json").json()
    body = spec["components"]["schemas"]["ScheduleBody"]["properties"]
    assert body["confirm"]["type"] == "boolean"
    assert body["confirm"]["default"] is False
    assert "due_by" in body["confirm"]["description"]
    route = spec["paths"]["/v1/pickups/{pickup_id}/schedule"]["post"]
    assert {"409", "422"} <= set(route["responses"])
    assert "due_by" in route["description"]
