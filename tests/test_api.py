"""The REST API: auth (401, 403), every endpoint's bad input named in a 4xx, the data,
schedulers' actions, exports, OpenAPI; and once through a real uvicorn server inside
a running bridge, with the CLI's write commands calling it."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import pytest
from click.testing import CliRunner
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cloud_bridge.api.app import create_app
from cloud_bridge.api.auth import GUARDS, PERMISSIONS, Principal, TokenTable
from cloud_bridge.api.context import ApiContext, ReaderPool
from cloud_bridge.api.server import ApiServer
from cloud_bridge.api.strict_json import StrictJsonRoute
from cloud_bridge.cli.main import cli
from cloud_bridge.config.api import ROLES
from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.domain.records import CommandRecord, DesiredConfig, Publication
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.engine.processor import Processor
from cloud_bridge.runtime import BridgeRuntime
from cloud_bridge.services.facility import FacilityService
from cloud_bridge.services.pickups import PickupService
from cloud_bridge.store.sqlite.store import SQLiteStore
from cloud_bridge.views.exports import DATE_PATTERN, TIME_PATTERN
from protocol import Pickup, decode
from tests.support import bin_messages as msg
from tests.support import openapi
from tests.support.bin_messages import T0
from tests.support.facility import FACILITY_ROUTE_PREFIXES
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client

_T = TypeVar("_T")
TOKENS = {"sched": "scheduler", "tech": "technician", "admin": "admin", "fac": "facility"}
NOW = T0 + timedelta(hours=3)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DirectActions:
    """The bridge's action path without MQTT: one lock, the processor, the outbox."""

    def __init__(self, processor: Processor, store: SQLiteStore) -> None:
        self.processor = processor
        self.store = store
        self.lock = threading.Lock()
        self.published: list[Publication] = []
        self.watched: list[str] = []

    def pickups(self, action: Callable[[PickupService], _T]) -> _T:
        with self.lock:
            result, outcome = self.processor.act(action)
            self.published.extend(outcome.publications)
            return result

    def facility(self, action: Callable[[FacilityService], _T]) -> _T:
        with self.lock:
            result, outcome = self.processor.run(lambda: action(self.processor.facility))
            self.published.extend(outcome.publications)
            return result

    def retry_delivery(self, delivery_id: int) -> bool:
        with self.lock, self.store.transaction():
            return self.store.retry_delivery(delivery_id, NOW)

    def send_command(
        self, bin_id: str, name: str, args: dict[str, Any], ttl_s: float | None, actor: str
    ) -> CommandRecord:
        with self.lock:
            result, outcome = self.processor.run(
                lambda: self.processor.send_command(bin_id, name, args, ttl_s, actor)
            )
            self.published.extend(outcome.publications)
            return result

    def push_config(
        self,
        config: dict[str, Any],
        *,
        bin_id: str | None = None,
        region: str | None = None,
        actor: str,
    ) -> list[DesiredConfig]:
        with self.lock:
            result, outcome = self.processor.run(
                lambda: self.processor.push_config(
                    config, bin_id=bin_id, region=region, actor=actor
                )
            )
            self.published.extend(outcome.publications)
            return result

    def watch_command(self, command_id: str, notify: Callable[[], None]) -> Callable[[], None]:
        """Notify at once: the route reads the command again (still pending here)."""
        self.watched.append(command_id)
        notify()
        return lambda: None


def api_settings(path: Path, **extra: Any) -> BridgeSettings:
    return validate_settings(
        {
            "store": {"path": str(path)},
            "api": {
                "port": 0,
                "max_rows": 500,
                "tokens": [
                    {"name": name, "role": role, "sha256": digest(f"{name}-token")}
                    for name, role in TOKENS.items()
                ],
            },
            "routing": {"regions": {"north": {"depot": {"lat": 52.45, "lon": 13.3}}}},
            "forecast": {"interval_s": 0},
            **extra,
        }
    )


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[tuple[TestClient, DirectActions]]:
    path = tmp_path / "bridge.db"
    settings = api_settings(path)
    store = SQLiteStore(path)
    processor = Processor(settings, store, lambda: NOW)
    batch = [
        msg.state("bin-001", 1, region="north"),
        msg.deposit("bin-001", 2, "glass", grams=500),
        msg.deposit("bin-001", 3, "metal", grams=40, accepted=False),
        msg.telemetry("bin-001", 4, 91.0),
        msg.state("bin-002", 1, region="south"),
        msg.telemetry("bin-002", 2, 12.0),
    ]
    processor.process([Inbound(topic, payload) for topic, payload in batch])
    processor.tick()
    with store.transaction():
        dead = store.queue_delivery("dispatch", "pickup", "pk-x", b"{}", NOW)
        store.record_attempt(dead, at=NOW, state="dead", status=500, error="HTTP 500",
                             next_attempt_at=NOW)  # fmt: skip
    actions = DirectActions(processor, store)
    readers = ReaderPool.sqlite(str(path))
    context = ApiContext(
        settings=settings,
        readers=readers,
        actions=actions,
        clock=lambda: NOW,
        tokens=TokenTable.from_settings(settings.api),
    )
    with TestClient(create_app(context)) as client:
        yield client, actions
    readers.close()
    store.close()


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}-token"}


def open_pickup(client: TestClient) -> dict[str, Any]:
    response = client.get("/v1/pickups", params={"open": "true"}, headers=auth("sched"))
    assert response.status_code == 200
    (pickup,) = response.json()
    result: dict[str, Any] = pickup
    return result


def test_openapi_and_health_need_no_token(harness: tuple[TestClient, DirectActions]) -> None:
    client, _ = harness
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/v1/bins",
        "/v1/bins/{bin_id}/forecast",
        "/v1/pickups/{pickup_id}/schedule",
        "/v1/deposits",
        "/v1/routes",
        "/v1/webhooks/deliveries",
        "/v1/exports/pickups.csv",
    ):
        assert path in paths
    assert client.get("/docs").status_code == 404  # the dashboard serves /docs (tests/test_web.py)
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic c2NoZWQ6eA=="}, {"Authorization": "Bearer wrong-token"}],
)
def test_no_anonymous_or_unknown_callers(
    harness: tuple[TestClient, DirectActions], headers: dict[str, str]
) -> None:
    client, actions = harness
    for method, path in (
        ("GET", "/v1/bins"),
        ("GET", "/v1/deposits"),
        ("GET", "/v1/pickups"),
        ("POST", "/v1/pickups/pk-x/acknowledge"),
    ):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert actions.published == []


@pytest.mark.parametrize(
    ("who", "method", "path", "body"),
    [
        ("tech", "GET", "/v1/pickups", None),
        ("tech", "POST", "/v1/pickups/{pid}/acknowledge", None),
        ("tech", "POST", "/v1/pickups/{pid}/cancel", {"reason": "no"}),
        ("tech", "GET", "/v1/routes?region=north", None),
        ("tech", "GET", "/v1/exports/pickups.csv?from=2026-11-01&to=2026-11-30", None),
        ("sched", "POST", "/v1/webhooks/deliveries/1/retry", None),
        ("sched", "GET", "/v1/tickets", None),
        ("sched", "GET", "/v1/tickets/tk-x", None),
        ("sched", "POST", "/v1/bins/bin-001/commands", {"name": "ping"}),
        ("sched", "GET", "/v1/commands", None),
        ("sched", "GET", "/v1/commands/cmd-x", None),
        ("sched", "POST", "/v1/config/push", {"bin_id": "bin-001", "config": {}}),
        ("sched", "GET", "/v1/config/status", None),
        ("sched", "GET", "/v1/config/desired/bin-001", None),
    ],
)
def test_roles_that_may_not_get_403(
    harness: tuple[TestClient, DirectActions],
    who: str,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    client, actions = harness
    pid = open_pickup(client)["pickup_id"]
    response = client.request(method, path.format(pid=pid), headers=auth(who), json=body)
    assert response.status_code == 403
    assert TOKENS[who] in response.json()["detail"]
    assert actions.published == []


PATH_VALUES = {"bin_id": "bin-001", "pickup_id": "pk-x", "ticket_id": "tk-x",
               "command_id": "cmd-x", "delivery_id": "1", "facility_id": "mrf-x",
               "intake_id": "in-x", "seq": "2"}  # fmt: skip


def _facility_route(path: str) -> bool:
    """The facility's routes have their own cases in tests/test_facility_api.py."""
    return path.startswith(FACILITY_ROUTE_PREFIXES)


def _permissions(dependant: Dependant) -> set[str]:
    """The permissions a route's dependencies (at any depth) demand."""
    found = {GUARDS[dependant.call]} if dependant.call in GUARDS else set()
    for sub in dependant.dependencies:
        found |= _permissions(sub)
    return found


def _every_route(app: Any) -> list[Any]:
    """The app's routes as served, routers included (FastAPI >= 0.160 includes routers
    lazily: their routes are reached through route contexts)."""
    contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if contexts is None:
        return list(app.routes)
    return list(contexts(app.routes))


def _v1_routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, concrete path, permission) of every /v1 route of the app."""
    routes: list[tuple[str, str, str]] = []
    for route in _every_route(client.app):
        original = getattr(route, "original_route", route)
        if not isinstance(original, APIRoute) or not route.path.startswith("/v1"):
            continue
        dependant = getattr(route, "dependant", original.dependant)
        permissions = _permissions(dependant)
        assert len(permissions) == 1, f"{route.path} must require one permission: {permissions}"
        names = [p.name for p in dependant.path_params]
        missing = [name for name in names if name not in PATH_VALUES]
        assert not missing, f"add a value for {missing} of {route.path} to PATH_VALUES"
        path = route.path.format(**{name: PATH_VALUES[name] for name in names})
        routes.extend((method, path, *permissions) for method in sorted(route.methods))
    return routes


def test_every_v1_route_refuses_callers_without_a_token_or_the_role(
    harness: tuple[TestClient, DirectActions],
) -> None:
    """A new route cannot be left open: each needs a permission, 401 without a valid token,
    and 403 for every role that lacks the permission (reads and writes alike)."""
    client, actions = harness
    routes = _v1_routes(client)
    paths = client.get("/openapi.json").json()["paths"]
    served = {path for path in paths if path.startswith("/v1")}
    assert len(routes) >= len(served) >= 25
    writes = [r for r in routes if r[0] != "GET"]
    assert len(writes) >= 6
    for method, path, permission in routes:
        for headers in ({}, {"Authorization": "Bearer nobody-token"}):
            response = client.request(method, path, headers=headers, json={})
            assert response.status_code == 401, (method, path, response.status_code)
        for name, role in TOKENS.items():
            if role in PERMISSIONS[permission]:
                continue
            response = client.request(method, path, headers=auth(name), json={})
            assert response.status_code == 403, (method, path, role, response.status_code)
    assert actions.published == []


def test_technicians_read_bins_and_deposits(harness: tuple[TestClient, DirectActions]) -> None:
    client, _ = harness
    assert client.get("/v1/bins", headers=auth("tech")).status_code == 200
    assert client.get("/v1/deposits", headers=auth("tech")).status_code == 200


BAD_INPUT: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/v1/bins?online=maybe", None, "online"),
    ("GET", "/v1/bins?region=a%2Fb", None, "region"),
    ("GET", "/v1/bins/BAD_ID", None, "bin_id"),
    ("GET", "/v1/bins/bin-001/fill?from=yesterday", None, "from"),
    ("GET", "/v1/bins/bin-001/fill?from=2026-11-24&to=2026-11-23", None, "to"),
    ("GET", "/v1/bins/bin-001/fill?limit=0", None, "limit"),
    ("GET", "/v1/bins/bin-001/fill?limit=501", None, "limit"),
    ("GET", "/v1/bins/X/forecast", None, "bin_id"),
    ("GET", "/v1/bins/X/manifest", None, "bin_id"),
    ("GET", "/v1/pickups?status=lost", None, "status"),
    ("GET", "/v1/pickups?open=perhaps", None, "open"),
    ("GET", "/v1/pickups?bin_id=Bin%201", None, "bin_id"),
    ("GET", "/v1/pickups?to=2026-13-01", None, "to"),
    ("GET", "/v1/pickups/pk%20x", None, "pickup_id"),
    ("GET", "/v1/pickups/pk%20x/manifest", None, "pickup_id"),
    ("POST", "/v1/pickups/pk%20x/acknowledge", None, "pickup_id"),
    ("POST", "/v1/pickups/{pid}/schedule", {}, "scheduled_for"),
    ("POST", "/v1/pickups/{pid}/schedule", {"scheduled_for": "2026-11-23T10:00:00"},
     "scheduled_for"),
    ("POST", "/v1/pickups/{pid}/schedule", {"scheduled_for": "soon"}, "scheduled_for"),
    ("POST", "/v1/pickups/{pid}/schedule", {"scheduled_for": "2026-11-20T10:00:00Z"},
     "scheduled_for"),
    ("POST", "/v1/pickups/{pid}/schedule",
     {"scheduled_for": "2026-11-23T12:00:00Z", "truck": 4}, "truck"),
    ("POST", "/v1/pickups/{pid}/cancel", {"reason": ""}, "reason"),
    ("POST", "/v1/pickups/{pid}/cancel", None, "body"),
    ("GET", "/v1/deposits?category=wood", None, "category"),
    ("GET", "/v1/deposits?accepted=maybe", None, "accepted"),
    ("GET", "/v1/deposits?limit=-3", None, "limit"),
    ("GET", "/v1/routes", None, "region"),
    ("GET", "/v1/routes?region=atlantis", None, "region"),
    ("GET", "/v1/webhooks/deliveries?state=lost", None, "state"),
    ("POST", "/v1/webhooks/deliveries/0/retry", None, "delivery_id"),
    ("GET", "/v1/exports/pickups.csv?to=2026-11-30", None, "from"),
    ("GET", "/v1/exports/deposits.csv?from=2026-11-01", None, "to"),
    ("GET", "/v1/exports/deposits.csv?from=x&to=2026-11-30", None, "from"),
    ("GET", "/v1/tickets?kind=bored", None, "kind"),
    ("GET", "/v1/tickets?status=closed", None, "status"),
    ("GET", "/v1/tickets?bin_id=B%20X", None, "bin_id"),
    ("GET", "/v1/tickets/tk%20x", None, "ticket_id"),
    ("POST", "/v1/bins/bin-001/commands", {"name": "dance"}, "name"),
    ("POST", "/v1/bins/bin-001/commands", {"name": "ping", "ttl_s": 0}, "ttl_s"),
    ("POST", "/v1/bins/bin-001/commands", {"name": "ping", "ttl_s": 10**9}, "ttl_s"),
    ("POST", "/v1/bins/bin-001/commands", {"name": "ping", "args": [1]}, "args"),
    ("POST", "/v1/bins/BIN/commands", {"name": "ping"}, "bin_id"),
    ("GET", "/v1/commands?status=lost", None, "status"),
    ("GET", "/v1/commands/c%20x", None, "command_id"),
    ("GET", "/v1/commands/cmd-x?wait=31", None, "wait"),
    ("POST", "/v1/config/push", {"bin_id": "bin-001"}, "config"),
    ("POST", "/v1/config/push", {"config": {}}, "bin_id"),
    ("POST", "/v1/config/push", {"bin_id": "bin-001", "region": "north", "config": {}},
     "bin_id"),
    ("POST", "/v1/config/push",
     {"bin_id": "bin-001", "config": {"intake": {"min_confidence": 1.5}}}, "min_confidence"),
    ("POST", "/v1/config/push",
     {"bin_id": "bin-001", "config": {"broker": {"host": "evil"}}}, "broker"),
    ("GET", "/v1/config/status?region=a%2Fb", None, "region"),
    ("GET", "/v1/config/desired/X", None, "bin_id"),
    # numbers and times beyond what SQLite and datetime hold are a 422, never a 500
    ("GET", "/v1/bins/bin-001/fill?limit=99999999999999999999", None, "limit"),
    ("GET", "/v1/webhooks/deliveries?limit=99999999999999999999", None, "limit"),
    ("POST", "/v1/webhooks/deliveries/99999999999999999999/retry", None, "delivery_id"),
    ("POST", "/v1/webhooks/deliveries/9223372036854775808/retry", None, "delivery_id"),
    ("GET", "/v1/bins/bin-001/fill?to=9999-12-31", None, "to"),
    ("GET", "/v1/pickups?to=9999-12-31T23:59:59-23:00", None, "to"),
    ("GET", "/v1/deposits?from=0001-01-01T00:00:00%2B05:00", None, "from"),
    ("GET", "/v1/exports/pickups.csv?from=2026-11-01&to=9999-12-31", None, "to"),
    ("POST", "/v1/pickups/{pid}/schedule", {"scheduled_for": "9999-12-31T23:59:59-23:00"},
     "scheduled_for"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_INPUT)
def test_bad_input_is_rejected_naming_the_field(
    harness: tuple[TestClient, DirectActions],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    client, actions = harness
    pid = open_pickup(client)["pickup_id"]
    response = client.request(method, path.format(pid=pid), headers=auth("admin"), json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(field in [str(part) for part in item["loc"]] for item in detail), detail
    assert actions.published == []


@pytest.mark.parametrize("number", [b"1e400", b"-Infinity", b"NaN"])
def test_numbers_json_cannot_carry_are_a_422_naming_the_field(
    harness: tuple[TestClient, DirectActions], number: bytes
) -> None:
    client, actions = harness
    response = client.post(
        "/v1/bins/bin-001/commands",
        headers={**auth("admin"), "Content-Type": "application/json"},
        content=b'{"name": "ping", "ttl_s": ' + number + b"}",
    )
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", "ttl_s"]
    assert actions.published == []


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        (
            "/v1/bins/bin-001/commands",
            b'{"name": "lock", "args": {"reason": {"code": 1e400}}}',
            "args",
            "reason.code must be a finite number",
        ),
        (
            "/v1/bins/bin-001/commands",
            b'{"name": "lock", "args": {"n": 99999999999999999999}}',
            "args",
            "n is outside the 64-bit integer range",
        ),
    ],
)
def test_free_form_objects_refuse_what_json_cannot_carry(
    harness: tuple[TestClient, DirectActions], path: str, body: bytes, field: str, message: str
) -> None:
    # 1e400 used to reach the bin as null, and an integer beyond int64 gave a 500 (the
    # wire model refused it only after the command was stored). Config overlays are
    # checked key by key by the bin's schema (a 422 naming the key).
    client, actions = harness
    response = client.post(
        path, headers={**auth("admin"), "Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 422, response.text
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", field]
    assert message in item["msg"]
    assert actions.published == []


def test_every_api_route_is_covered_by_the_bad_input_cases(
    harness: tuple[TestClient, DirectActions],
) -> None:
    client, _ = harness
    routes = {
        path
        for path in client.get("/openapi.json").json()["paths"]
        if path.startswith("/v1") and not _facility_route(path)
    }
    covered = {
        "/v1/bins",
        "/v1/bins/{bin_id}",
        "/v1/bins/{bin_id}/fill",
        "/v1/bins/{bin_id}/forecast",
        "/v1/bins/{bin_id}/manifest",
        "/v1/pickups",
        "/v1/pickups/{pickup_id}",
        "/v1/pickups/{pickup_id}/manifest",
        "/v1/pickups/{pickup_id}/acknowledge",
        "/v1/pickups/{pickup_id}/schedule",
        "/v1/pickups/{pickup_id}/cancel",
        "/v1/deposits",
        "/v1/routes",
        "/v1/webhooks/deliveries",
        "/v1/webhooks/deliveries/{delivery_id}/retry",
        "/v1/exports/pickups.csv",
        "/v1/exports/deposits.csv",
        "/v1/tickets",
        "/v1/tickets/{ticket_id}",
        "/v1/bins/{bin_id}/commands",
        "/v1/commands",
        "/v1/commands/{command_id}",
        "/v1/config/push",
        "/v1/config/status",
        "/v1/config/desired/{bin_id}",
    }
    assert routes == covered


def test_bins_carry_their_forecast_history_and_manifest(
    harness: tuple[TestClient, DirectActions],
) -> None:
    client, _ = harness
    rows = client.get("/v1/bins", headers=auth("tech")).json()
    assert [row["bin_id"] for row in rows] == ["bin-001", "bin-002"]
    assert "predicted_full_at" in rows[0]
    assert rows[0]["forecast_method"] == "insufficient"  # one reading is not a trend
    assert client.get("/v1/bins?region=south", headers=auth("tech")).json()[0]["bin_id"] == (
        "bin-002"
    )
    one = client.get("/v1/bins/bin-001", headers=auth("tech")).json()
    assert one["fill_pct"] == 91.0
    assert client.get("/v1/bins/bin-404", headers=auth("tech")).status_code == 404
    (point,) = client.get("/v1/bins/bin-001/fill", headers=auth("tech")).json()
    assert (point["seq"], point["fill_pct"], point["clock_synced"]) == (4, 91.0, True)
    forecast = client.get("/v1/bins/bin-001/forecast", headers=auth("tech")).json()
    assert forecast["forecast"]["points"] == 1
    manifest = client.get("/v1/bins/bin-001/manifest", headers=auth("sched")).json()
    assert manifest["manifest"] == {"glass": {"count": 1, "kg": 0.5}}


def test_schedulers_act_on_pickups_and_the_changes_are_published(
    harness: tuple[TestClient, DirectActions],
) -> None:
    client, actions = harness
    pid = open_pickup(client)["pickup_id"]
    acked = client.post(f"/v1/pickups/{pid}/acknowledge", headers=auth("sched"))
    assert acked.status_code == 200
    assert acked.json()["acknowledged_at"] == "2026-11-23T09:00:00.000Z"
    scheduled = client.post(
        f"/v1/pickups/{pid}/schedule",
        headers=auth("sched"),
        json={"scheduled_for": "2026-11-23T14:30:00+01:00", "note": "truck 2"},
    ).json()
    assert (scheduled["status"], scheduled["scheduled_for"]) == (
        "scheduled",
        "2026-11-23T13:30:00.000Z",
    )
    assert client.get(f"/v1/pickups/{pid}", headers=auth("sched")).json()["status"] == "scheduled"
    manifest = client.get(f"/v1/pickups/{pid}/manifest", headers=auth("sched")).json()
    assert manifest["manifest"]["glass"]["count"] == 1
    cancelled = client.post(
        f"/v1/pickups/{pid}/cancel", headers=auth("admin"), json={"reason": "duplicate"}
    )
    assert cancelled.json()["status"] == "cancelled"
    again = client.post(f"/v1/pickups/{pid}/cancel", headers=auth("sched"), json={"reason": "x"})
    assert again.status_code == 409
    assert "cancelled" in again.json()["detail"]
    missing = client.post("/v1/pickups/pk-nope/acknowledge", headers=auth("sched"))
    assert missing.status_code == 404
    statuses = [decode(Pickup, p.payload) for p in actions.published]
    assert [(p.pickup_id, p.status) for p in statuses] == [
        (pid, "requested"),
        (pid, "scheduled"),
        (pid, "cancelled"),
    ]
    assert statuses[0].acknowledged_at is not None
    filtered = client.get("/v1/pickups?status=cancelled&region=north", headers=auth("sched"))
    assert [p["pickup_id"] for p in filtered.json()] == [pid]


def test_deposits_routes_deliveries_and_exports(harness: tuple[TestClient, DirectActions]) -> None:
    client, _ = harness
    deposits = client.get("/v1/deposits?bin_id=bin-001", headers=auth("tech")).json()
    assert [(d["category"], d["accepted"]) for d in deposits] == [("glass", True), ("metal", False)]
    rejected = client.get("/v1/deposits?accepted=false", headers=auth("tech")).json()
    assert [d["category"] for d in rejected] == ["metal"]
    plan = client.get("/v1/routes?region=north", headers=auth("sched")).json()
    (vehicle,) = plan["vehicles"]
    assert [s["bin_id"] for s in vehicle["stops"]] == ["bin-001"]
    assert vehicle["stops"][0]["leg_km"] > 0
    dead = client.get("/v1/webhooks/deliveries?state=dead", headers=auth("sched")).json()
    assert [(d["key"], d["last_error"]) for d in dead] == [("pk-x", "HTTP 500")]
    retried = client.post(f"/v1/webhooks/deliveries/{dead[0]['id']}/retry", headers=auth("admin"))
    assert retried.json() == {"id": dead[0]["id"], "state": "pending"}
    again = client.post(f"/v1/webhooks/deliveries/{dead[0]['id']}/retry", headers=auth("admin"))
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"delivery {dead[0]['id']} is pending, not dead",
    )
    for unknown in (999, 2**63 - 1):
        missing = client.post(f"/v1/webhooks/deliveries/{unknown}/retry", headers=auth("admin"))
        assert (missing.status_code, missing.json()["detail"]) == (404, f"no delivery {unknown}")
    response = client.get(
        "/v1/exports/pickups.csv?from=2026-11-23&to=2026-11-23", headers=auth("sched")
    )
    assert response.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert (row["bin_id"], row["glass_count"], row["glass_kg"]) == ("bin-001", "1", "0.500")
    empty = client.get(
        "/v1/exports/pickups.csv?from=2026-11-24&to=2026-11-25", headers=auth("sched")
    ).text
    assert empty.splitlines()[0].startswith("pickup_id,bin_id")
    assert len(empty.splitlines()) == 1
    export = client.get(
        "/v1/exports/deposits.csv?from=2026-11-23T00:00:00Z&to=2026-11-24", headers=auth("tech")
    )
    assert [r["deposit_id"] for r in csv.DictReader(io.StringIO(export.text))] == [
        "bin-001-d2",
        "bin-001-d3",
    ]


def _unsynced(topic_payload: tuple[str, bytes]) -> Inbound:
    """The message as a bin without a synchronised clock sends it (its clock says 2001)."""
    topic, payload = topic_payload
    data = json.loads(payload)
    data.update(ts="2001-01-01T00:00:00Z", clock_synced=False)
    return Inbound(topic, json.dumps(data).encode())


def test_date_ranges_use_bin_time_or_reception_time_when_the_clock_was_unsynced(
    harness: tuple[TestClient, DirectActions],
) -> None:
    client, actions = harness
    actions.processor.process(
        [
            _unsynced(msg.state("bin-003", 1, region="south")),
            _unsynced(msg.telemetry("bin-003", 2, 30.0)),
            _unsynced(msg.deposit("bin-003", 3, "paper", grams=80)),
        ]
    )
    today = {"from": "2026-11-23", "to": "2026-11-23"}
    (point,) = client.get("/v1/bins/bin-003/fill", params=today, headers=auth("tech")).json()
    assert (point["ts"], point["at"]) == ("2001-01-01T00:00:00.000Z", "2026-11-23T09:00:00.000Z")
    old = {"from": "2001-01-01", "to": "2001-01-01"}
    assert client.get("/v1/bins/bin-003/fill", params=old, headers=auth("tech")).json() == []
    listed = client.get("/v1/deposits", params={**today, "bin_id": "bin-003"}, headers=auth("tech"))
    assert [d["deposit_id"] for d in listed.json()] == ["bin-003-d3"]
    exported = client.get("/v1/exports/deposits.csv", params=today, headers=auth("tech")).text
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["deposit_id"] for r in rows] == ["bin-001-d2", "bin-001-d3", "bin-003-d3"]
    assert client.get("/v1/deposits", params=old, headers=auth("tech")).json() == []


def test_the_server_sends_without_waiting_for_acks(tmp_path: Path) -> None:
    """TCP_NODELAY on every accepted connection: with Nagle's algorithm on, a response
    written as headers then body waits for the client's delayed ACK (40 ms a request)."""
    settings = api_settings(tmp_path / "bridge.db")
    SQLiteStore(tmp_path / "bridge.db").close()
    readers = ReaderPool.sqlite(str(tmp_path / "bridge.db"))
    context = ApiContext(
        settings=settings,
        readers=readers,
        actions=DirectActions.__new__(DirectActions),  # healthz acts on nothing
        clock=lambda: NOW,
        tokens=TokenTable.from_settings(settings.api),
    )
    server = ApiServer(create_app(context), "127.0.0.1", 0, on_stop=readers)
    server.start()
    url = server.url
    try:
        with httpx.Client(base_url=url) as http:
            for _ in range(3):
                assert http.get("/healthz").status_code == 200
            connections = list(server._server.server_state.connections)
            assert connections  # the keep-alive connection is still open
            for connection in connections:
                sock = connection.transport.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)


def test_the_token_table_compares_digests() -> None:
    table = TokenTable({digest("abc"): Principal("a", "admin")})
    assert table.lookup("abc") == Principal("a", "admin")
    assert table.lookup("abd") is None


def test_through_a_real_server_inside_the_bridge_with_the_cli(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVLOOP_TEST_SCHED", "real-sched-token")
    settings = validate_settings(
        {
            "broker": {"url": mosquitto.url, "client_id": "bridge-api", "backoff_min_s": 0.05,
                       "backoff_max_s": 0.5},
            "store": {"path": str(tmp_path / "bridge.db")},
            "api": {"port": 0, "tokens": [
                {"name": "dispatch", "role": "scheduler", "env": "REVLOOP_TEST_SCHED"}]},
            "timers": {"poll_s": 0.05},
        }
    )  # fmt: skip
    with Client(mosquitto.port) as scheduler, BridgeRuntime(settings) as bridge:
        assert bridge.wait_ready(20)
        scheduler.subscribe("fleet/v1/pickups/+")
        scheduler.publish(*msg.state("bin-001", 1, region="north"))
        scheduler.publish(*msg.telemetry("bin-001", 2, 88.0))
        (raised,) = scheduler.take(1, 20)
        pid = decode(Pickup, bytes(raised.payload)).pickup_id
        assert bridge.api is not None
        base = bridge.api.url
        headers = {"Authorization": "Bearer real-sched-token"}
        with httpx.Client(base_url=base, headers=headers) as http:
            assert http.get("/v1/pickups").json()[0]["pickup_id"] == pid
            assert httpx.get(f"{base}/v1/pickups").status_code == 401
        monkeypatch.setenv("REVLOOP_API_TOKEN", "real-sched-token")
        result = CliRunner().invoke(cli, ["pickup", "ack", pid, "--api", base, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["acknowledged_at"] is not None
        (update,) = scheduler.take(1, 20)
        acked = decode(Pickup, bytes(update.payload))
        assert (acked.pickup_id, acked.status) == (pid, "requested")
        assert acked.acknowledged_at is not None
        when = (datetime.now().astimezone() + timedelta(hours=2)).isoformat()
        result = CliRunner().invoke(cli, ["pickup", "schedule", pid, "--at", when, "--api", base])
        assert result.exit_code == 0, result.output
        assert "scheduled" in result.output
        (update,) = scheduler.take(1, 20)
        assert decode(Pickup, bytes(update.payload)).status == "scheduled"
        refused = CliRunner().invoke(cli, ["pickup", "cancel", "pk-nope", "--reason", "x",
                                           "--api", base])  # fmt: skip
        assert refused.exit_code == 1
        assert "HTTP 404" in refused.output
        monkeypatch.setenv("REVLOOP_API_TOKEN", "stolen")
        denied = CliRunner().invoke(cli, ["pickup", "ack", pid, "--api", base])
        assert denied.exit_code == 1
        assert "HTTP 401" in denied.output


def test_technicians_send_commands_push_configuration_and_read_tickets(
    harness: tuple[TestClient, DirectActions],
) -> None:
    client, actions = harness
    sent = client.post(
        "/v1/bins/bin-001/commands", headers=auth("tech"), json={"name": "ping", "ttl_s": 30}
    )
    assert sent.status_code == 201, sent.text
    row = sent.json()
    assert (row["status"], row["name"], row["actor"]) == ("pending", "ping", "tech")
    assert row["expires_at"] == "2026-11-23T09:00:30.000Z"
    waited = client.get(f"/v1/commands/{row['id']}", params={"wait": 2}, headers=auth("tech"))
    assert waited.json()["status"] == "pending"
    assert actions.watched == [row["id"]]
    assert client.get(f"/v1/commands/{row['id']}", headers=auth("tech")).status_code == 200
    assert actions.watched == [row["id"]]  # no wait asked, none made
    assert [c["id"] for c in client.get("/v1/commands", headers=auth("tech")).json()] == [row["id"]]
    assert client.get("/v1/commands/cmd-nope", headers=auth("tech")).status_code == 404
    missing = client.post("/v1/bins/bin-404/commands", headers=auth("tech"), json={"name": "ping"})
    assert missing.status_code == 404

    pushed = client.post(
        "/v1/config/push",
        headers=auth("tech"),
        json={"region": "north", "config": {"intake": {"min_confidence": 0.8}}},
    )
    assert pushed.status_code == 201, pushed.text
    assert [(p["bin_id"], p["version"]) for p in pushed.json()["pushed"]] == [("bin-001", 4)]
    states = {
        r["bin_id"]: r["state"]
        for r in client.get("/v1/config/status", headers=auth("tech")).json()
    }
    assert states == {"bin-001": "pending", "bin-002": "none"}
    assert client.get("/v1/config/status?flagged=true", headers=auth("tech")).json() == []
    stored = client.get("/v1/config/desired/bin-001", headers=auth("tech")).json()
    assert (stored["version"], stored["config"], stored["actor"]) == (
        4,
        {"intake": {"min_confidence": 0.8}},
        "tech",
    )
    assert client.get("/v1/config/desired/bin-002", headers=auth("tech")).status_code == 404
    retained = [(p.topic, p.retain) for p in actions.published if p.topic.startswith("bins/")]
    assert retained == [("bins/v1/bin-001/cmd", False), ("bins/v1/bin-001/config/desired", True)]

    actions.processor.process([Inbound(*msg.alarm("bin-002", 3, "tamper"))])
    (ticket,) = client.get("/v1/tickets?open=true", headers=auth("tech")).json()
    assert (ticket["bin_id"], ticket["kind"], ticket["region"]) == ("bin-002", "alarm", "south")
    one = client.get(f"/v1/tickets/{ticket['ticket_id']}", headers=auth("admin")).json()
    assert one == ticket
    assert client.get("/v1/tickets?region=north", headers=auth("tech")).json() == []
    assert client.get("/v1/tickets/tk-nope", headers=auth("tech")).status_code == 404


def _v1_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        if path.startswith("/v1"):
            for method, operation in operations.items():
                yield method.upper(), path, operation


def test_every_v1_response_is_typed_in_the_openapi_document(
    harness: tuple[TestClient, DirectActions],
) -> None:
    """Integrators learn from /openapi.json what each route returns: every 2xx JSON body
    has a schema with properties, each described and always present (null where it may
    be), and every other body its media type."""
    client, _ = harness
    document = client.get("/openapi.json").json()
    for untyped in ({}, {"type": "object", "additionalProperties": True}):
        assert openapi.untyped({"type": "array", "items": untyped}, document)
    operations = list(_v1_operations(document))
    assert len(operations) >= 25
    for method, path, operation in operations:
        successes = {k: v for k, v in operation["responses"].items() if k.startswith("2")}
        assert successes, (method, path)
        for status, response in successes.items():
            assert response.get("content"), (method, path, status)
            for media, body in response["content"].items():
                schema = body.get("schema", {})
                if media != "application/json":
                    assert schema.get("type") == "string", (method, path, media)
                    continue
                assert openapi.untyped(schema, document) is None, (method, path, schema)
                for name, component in openapi.response_components(document, schema):
                    assert component.get("description"), name
                    properties = component.get("properties", {})
                    assert set(component.get("required", [])) == set(properties), name
                    for key, field in properties.items():
                        assert field.get("description"), (name, key)


def test_responses_conform_to_their_documented_schema(
    harness: tuple[TestClient, DirectActions],
) -> None:
    """Real bodies of every kind carry exactly the documented keys with documented types,
    times as RFC 3339 UTC with milliseconds: a bin with location, health and a forecast,
    a command, a pickup and its manifest, a ticket, configuration, deliveries."""
    client, actions = harness
    processor = actions.processor
    readings = [msg.telemetry("bin-003", 1800 * k, 10.0 + 9.5 * k) for k in range(1, 7)]
    batch = [
        msg.state("bin-003", 1, region="north", lat=52.4, lon=13.1),
        *readings,
        msg.health("bin-003", 10801, tray_idle_g=1.5, sensors={"camera": "failed"}),
        msg.deposit("bin-003", 10802, "plastic"),
    ]
    processor.process([Inbound(topic, payload) for topic, payload in batch])
    processor.tick()
    admin = auth("admin")
    command = client.post("/v1/bins/bin-003/commands", headers=admin, json={"name": "ping"})
    pickup = open_pickup(client)
    (ticket,) = client.get("/v1/tickets", headers=admin).json()
    client.post("/v1/config/push", headers=admin, json={"bin_id": "bin-003", "config": {}})
    ids = {
        "bin_id": "bin-003",
        "command_id": command.json()["id"],
        "pickup_id": pickup["pickup_id"],
        "ticket_id": ticket["ticket_id"],
    }
    document = client.get("/openapi.json").json()
    checked = []
    for method, path, operation in _v1_operations(document):
        # a route plan takes the solver's whole time limit; the test of deposits and
        # routes gets one, which FastAPI checks against its response model
        if method != "GET" or path == "/v1/routes" or _facility_route(path):
            continue
        content = operation["responses"]["200"]["content"]
        if "application/json" not in content:
            continue
        response = client.get(path.format(**ids), headers=admin)
        assert response.status_code == 200, (path, response.text)
        schema = content["application/json"]["schema"]
        assert openapi.conformity(response.json(), schema, document) == [], path
        checked.append(path)
    assert len(checked) == 16
    for path, body in (
        ("/v1/bins/{bin_id}/commands", {"name": "tare", "args": {"n": 1}}),
        ("/v1/pickups/{pickup_id}/acknowledge", None),
    ):
        operation = document["paths"][path]["post"]
        response = client.post(path.format(**ids), headers=admin, json=body)
        status = str(response.status_code)
        assert status.startswith("2"), (path, response.text)
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert openapi.conformity(response.json(), schema, document) == [], path

    (row,) = [r for r in client.get("/v1/bins", headers=admin).json() if r["bin_id"] == "bin-003"]
    assert row["location"] == {"lat": 52.4, "lon": 13.1}
    assert row["health"]["sensors"] == {"camera": "failed"}
    assert (row["forecast_method"], row["fill_rate_pct_per_h"]) == ("linear", 19.0)
    assert row["predicted_full_at"] is not None
    schema = document["paths"]["/v1/bins/{bin_id}"]["get"]["responses"]["200"]["content"]
    without_health = {key: value for key, value in row.items() if key != "health"}
    for broken in (without_health, {**row, "x": 1}, {**row, "last_seen": "2026-11-23"}):
        assert openapi.conformity(broken, schema["application/json"]["schema"], document)
    assert command.status_code == 201
    assert set(command.json()) >= {"id", "status", "args", "result", "expires_at"}
    assert set(pickup) >= {"v", "pickup_id", "status", "due_by", "manifest", "revision"}


ERRORS = {401, 403, 404, 409, 422, 429, 503}
"""Every error status the API answers with on purpose."""


def test_every_v1_route_documents_the_errors_it_can_return(
    harness: tuple[TestClient, DirectActions],
) -> None:
    """Integrators learn from /openapi.json which errors to handle and how to read them:
    every route lists 401 (with its WWW-Authenticate header), 403 exactly when some role
    lacks its permission (no role ever gets a 403 from a route every role may use), 422
    exactly when it takes input; each error body is typed and described."""
    client, _ = harness
    document = client.get("/openapi.json").json()
    templates = {
        (method, path.format(**PATH_VALUES)): path for method, path, _ in _v1_operations(document)
    }
    routes = _v1_routes(client)
    assert len(routes) == len(templates) >= 25
    for method, concrete, permission in routes:
        path = templates[method, concrete]
        operation = document["paths"][path][method.lower()]
        documented = {int(k) for k in operation["responses"] if not k.startswith("2")}
        assert documented <= ERRORS, (method, path, documented)
        assert 401 in documented, (method, path)
        assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], (method, path)
        refused = set(ROLES) - PERMISSIONS[permission]
        assert (403 in documented) == bool(refused), (method, path, permission)
        takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
        assert (422 in documented) == takes_input, (method, path)
        for status in documented:
            response = operation["responses"][str(status)]
            assert response.get("description"), (method, path, status)
            assert set(response["content"]) == {"application/json"}, (method, path, status)
            schema = openapi.error_schema(operation, status)
            assert schema is not None
            assert openapi.untyped(schema, document) is None, (method, path, status)
            for name, component in openapi.response_components(document, schema):
                assert component.get("description"), name
                for key, field in component.get("properties", {}).items():
                    assert field.get("description"), (name, key)


class _Answer(Protocol):
    """A test client's response (httpx's or httpx2's, whichever Starlette uses)."""

    @property
    def status_code(self) -> int: ...

    def json(self) -> Any: ...


def _conforms(
    document: dict[str, Any], method: str, url: str, response: _Answer
) -> tuple[str, int]:
    """Assert that ``response``'s error body conforms to the schema its route documents
    for its status; return the route's path template and the status."""
    path, operation = openapi.route_operation(document, method, url)
    schema = openapi.error_schema(operation, response.status_code)
    assert schema is not None, f"{method} {path} answers {response.status_code} undocumented"
    assert openapi.conformity(response.json(), schema, document) == [], (method, url)
    return path, response.status_code


def test_real_401_403_and_422_bodies_conform_to_the_documented_schema(
    harness: tuple[TestClient, DirectActions],
) -> None:
    """On every route: a caller without a token or with an unknown one, every role that
    lacks the permission, and every bad input of BAD_INPUT (FastAPI's own checks, the
    routers' field errors, the services' InvalidAction and InvalidConfig alike)."""
    client, actions = harness
    document = client.get("/openapi.json").json()
    for method, path, permission in _v1_routes(client):
        for headers in ({}, {"Authorization": "Bearer nobody-token"}):
            response = client.request(method, path, headers=headers, json={})
            assert _conforms(document, method, path, response)[1] == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        for name, role in TOKENS.items():
            if role not in PERMISSIONS[permission]:
                response = client.request(method, path, headers=auth(name), json={})
                assert _conforms(document, method, path, response)[1] == 403
    pid = open_pickup(client)["pickup_id"]
    routes = set()
    for method, url, body, _ in BAD_INPUT:
        url = url.format(pid=pid)
        response = client.request(method, url, headers=auth("admin"), json=body)
        routes.add(_conforms(document, method, url, response))
    assert len(routes) == 25
    url = f"/v1/pickups/{pid}/cancel"  # not JSON at all: loc holds the offset, an integer
    response = client.post(
        url, headers={**auth("admin"), "Content-Type": "application/json"}, content=b"{"
    )
    assert _conforms(document, "POST", url, response)[1] == 422
    assert response.json()["detail"][0]["loc"] == ["body", 1]
    assert actions.published == []


NOT_FOUND: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/bins/bin-404", None),
    ("GET", "/v1/bins/bin-404/fill", None),
    ("GET", "/v1/bins/bin-404/forecast", None),
    ("GET", "/v1/bins/bin-404/manifest", None),
    ("GET", "/v1/pickups/pk-404", None),
    ("GET", "/v1/pickups/pk-404/manifest", None),
    ("POST", "/v1/pickups/pk-404/acknowledge", None),
    ("POST", "/v1/pickups/pk-404/schedule", {"scheduled_for": "2026-11-23T14:00:00Z"}),
    ("POST", "/v1/pickups/pk-404/cancel", {"reason": "gone"}),
    ("POST", "/v1/webhooks/deliveries/404/retry", None),
    ("GET", "/v1/tickets/tk-404", None),
    ("POST", "/v1/bins/bin-404/commands", {"name": "ping"}),
    ("GET", "/v1/commands/cmd-404", None),
    ("POST", "/v1/config/push", {"region": "west", "config": {}}),
    ("GET", "/v1/config/desired/bin-002", None),
]
"""A request per route that can name something unknown (a push: a region without bins)."""

ACTIONS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/pickups/{pid}/acknowledge", None),
    ("POST", "/v1/pickups/{pid}/schedule", {"scheduled_for": "2026-11-23T14:00:00Z"}),
    ("POST", "/v1/pickups/{pid}/cancel", {"reason": "again"}),
    ("POST", "/v1/webhooks/deliveries/{dead}/retry", None),
]
"""Changes that can conflict with the state: each on a cancelled pickup or a delivery
that is no longer dead is a 409."""

UNAVAILABLE: list[tuple[str, str, dict[str, Any] | None]] = [
    *ACTIONS,
    ("POST", "/v1/bins/bin-001/commands", {"name": "ping"}),
    ("POST", "/v1/config/push", {"bin_id": "bin-001", "config": {}}),
]
"""Every change: each goes through the bridge's writer thread."""


def test_real_404_409_and_503_bodies_conform_and_are_documented_exactly_where_they_occur(
    harness: tuple[TestClient, DirectActions], tmp_path: Path
) -> None:
    """Each route that documents a 404, 409 or 503 really answers with it (and its body
    conforms); no route documents one that the requests here do not produce."""
    client, actions = harness
    document = client.get("/openapi.json").json()
    admin = auth("admin")
    ids = {"pid": open_pickup(client)["pickup_id"]}
    (dead,) = client.get("/v1/webhooks/deliveries?state=dead", headers=admin).json()
    ids["dead"] = dead["id"]
    seen: set[tuple[str, str, int]] = set()

    def expect(status: int, cases: list[tuple[str, str, dict[str, Any] | None]]) -> None:
        for method, url, body in cases:
            url = url.format(**ids)
            response = client.request(method, url, headers=admin, json=body)
            assert response.status_code == status, (method, url, response.text)
            seen.add((method, *_conforms(document, method, url, response)))

    expect(404, NOT_FOUND)
    context: ApiContext = client.app.state.context  # type: ignore[attr-defined]
    context.actions = Bridge(  # never started: its writer does not run
        validate_settings({"store": {"path": str(tmp_path / "bridge.db")}}), store=actions.store
    )
    expect(503, UNAVAILABLE)
    assert client.post(f"/v1/pickups/{ids['pid']}/acknowledge", headers=admin).json() == {
        "detail": "the bridge is not running"
    }
    context.actions = actions
    client.post(f"/v1/pickups/{ids['pid']}/cancel", headers=admin, json={"reason": "done"})
    client.post(f"/v1/webhooks/deliveries/{ids['dead']}/retry", headers=admin)
    expect(409, ACTIONS)
    documented = {
        (method, path, int(status))
        for method, path, operation in _v1_operations(document)
        for status in operation["responses"]
        if int(status) in {404, 409, 503} and not _facility_route(path)
    }
    assert seen == documented


def test_every_route_reads_its_body_as_strict_utf8_json(
    harness: tuple[TestClient, DirectActions],
) -> None:
    """A body that is not UTF-8 JSON is the documented 422, never FastAPI's undocumented
    400 ('There was an error parsing the body'), and UTF-16 is not guessed at."""
    client, actions = harness
    served = [getattr(r, "original_route", r) for r in _every_route(client.app)]
    routes = [route for route in served if getattr(route, "path", "").startswith("/v1")]
    assert len(routes) >= 25
    assert all(isinstance(route, StrictJsonRoute) for route in routes)
    document = client.get("/openapi.json").json()
    url = f"/v1/pickups/{open_pickup(client)['pickup_id']}/cancel"
    headers = {**auth("admin"), "Content-Type": "application/json"}
    for body, offset in [
        (b'{"reason": "caf\xe9"}', 15),  # Latin-1, not UTF-8
        ('{"reason": "gone"}'.encode("utf-16"), 0),  # json.loads would decode it
        (b"[" * 100_000 + b"]" * 100_000, 0),  # deeper than the parser goes
    ]:
        response = client.post(url, headers=headers, content=body)
        assert _conforms(document, "POST", url, response)[1] == 422, response.text
        (item,) = response.json()["detail"]
        assert (item["loc"], item["type"]) == (["body", offset], "json_invalid")
    assert actions.published == []


WHEN_CASES = [
    "2026-11-01", "2026-11-01T10:00:00Z", "2026-11-01t10:00:00z", "2026-11-01 10:00:00+01:00",
    "2026-11-01T10:00:00.123456789-05:30", "2026-11-01T10:00Z", "2026-11-01T10+00:00",
    "20261101", "2026-W44-1", "2026-11-01T10:00:00", "2026-11-01T10:00:00+0100", "yesterday",
    "2026-11-01\n", "2026-11-01T10:00:00Z ",
]  # fmt: skip
"""Ranges' bounds, valid and not, as the document's patterns and the server judge them."""


def _limit_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    (schema,) = [s for s in parameter["schema"].get("anyOf", []) if s.get("type") == "integer"]
    found: dict[str, Any] = schema
    return found


def test_the_openapi_document_states_the_limits_the_server_enforces(
    harness: tuple[TestClient, DirectActions],
) -> None:
    client, actions = harness
    document = client.get("/openapi.json").json()
    bounded: dict[str, list[str]] = {"limit": [], "from": [], "to": []}
    for method, path, operation in _v1_operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"] in bounded and method == "GET":
                bounded[parameter["name"]].append(path.format(**PATH_VALUES))
                if parameter["name"] == "limit":
                    assert _limit_schema(parameter) == {"type": "integer", "minimum": 1,
                                                        "maximum": 500}  # fmt: skip
                else:
                    formats = {s["format"]: s["pattern"] for s in parameter["schema"]["anyOf"]}
                    assert formats == {"date": DATE_PATTERN, "date-time": TIME_PATTERN}
    assert len(bounded["limit"]) == 8  # the facility routes add intakes and stock movements
    assert len(bounded["from"]) == 10  # the facility routes add intakes and four report routes
    tech, admin = auth("tech"), auth("admin")
    for url in bounded["limit"]:
        assert client.get(url, params={"limit": 500}, headers=admin).status_code in (200, 404)
        assert client.get(url, params={"limit": 501}, headers=admin).status_code == 422, url
    for text in WHEN_CASES:
        # fullmatch: an ECMA-262 "$" (JSON Schema's) matches before no trailing newline
        documented = any(re.fullmatch(p, text) for p in (DATE_PATTERN, TIME_PATTERN))
        for url in bounded["from"]:
            params = {"from": text, "to": "9999-01-01"}
            answered = client.get(url, params=params, headers=admin).status_code
            assert (answered != 422) == documented, (url, text, answered)

    push = document["components"]["schemas"]["PushBody"]
    assert [option["required"] for option in push["oneOf"]] == [["bin_id"], ["region"]]
    bodies: list[dict[str, Any]] = [{"config": {}}, {"bin_id": "bin-001", "region": "north",
                                                     "config": {}}]  # fmt: skip
    for body in bodies:
        response = client.post("/v1/config/push", headers=tech, json=body)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "bin_id"]
        assert "exactly one of bin_id and region" in response.json()["detail"][0]["msg"]
    for body in ({"bin_id": "bin-001", "config": {}}, {"region": "north", "config": {}}):
        assert client.post("/v1/config/push", headers=tech, json=body).status_code == 201

    command = document["components"]["schemas"]["CommandBody"]["properties"]
    assert command["args"]["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}
    (integer,) = [o for o in document["components"]["schemas"]["JsonValue"]["anyOf"]
                  if o["type"] == "integer"]  # fmt: skip
    assert (integer["minimum"], integer["maximum"]) == (-(2**63 - 1), 2**63 - 1)
    (ttl,) = [o for o in command["ttl_s"]["anyOf"] if o["type"] == "number"]
    assert (ttl["minimum"], ttl["maximum"]) == (1, 86400)
    url = "/v1/bins/bin-001/commands"
    for value, status in [(2**63 - 1, 201), (-(2**63 - 1), 201), (1.5, 201), (2**63, 422),
                          (-(2**63), 422), (1e20, 422), ([{"deep": 2**64}], 422)]:  # fmt: skip
        response = client.post(url, headers=tech, json={"name": "lock", "args": {"n": value}})
        assert response.status_code == status, (value, response.text)
        if status == 422:
            assert response.json()["detail"][0]["loc"] == ["body", "args"]
    for ttl_s, status in [(1, 201), (86400, 201), (0.5, 422), (86400.5, 422)]:
        response = client.post(url, headers=tech, json={"name": "ping", "ttl_s": ttl_s})
        assert response.status_code == status, (ttl_s, response.text)
    assert len([p for p in actions.published if p.topic.endswith("/cmd")]) == 5
