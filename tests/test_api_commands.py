"""Commands through a real API server: long polls that hold no thread, the lifetime
limits the API and ``bin-bridge cmd`` share, and the warning for an offline bin.

Long polls (``GET /v1/commands/{id}?wait=``) hold no thread, and each token holds a
bounded number of them.

A sync handler runs on anyio's thread pool (40 threads by default): forty waiting
technicians used to hold every thread for up to 30 s, so a scheduler's acknowledge
and ``/healthz`` waited behind them. Here the pool is cut to two threads, forty waits
are pending, and the sync routes still answer while no thread is borrowed; the 41st
wait of the same token is a 429. No timing is measured: the waits are known to be
pending because the bridge was asked to watch their command forty times.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx
import pytest
from anyio import CapacityLimiter
from click.testing import CliRunner, Result
from starlette.types import ASGIApp, Receive, Scope, Send

from cloud_bridge.api.app import create_app
from cloud_bridge.api.auth import TokenTable
from cloud_bridge.api.context import ApiContext, ReaderPool
from cloud_bridge.api.server import ApiServer
from cloud_bridge.cli.main import cli
from cloud_bridge.cli.technicians import TIMEOUT_EXIT_CODE
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.processor import Processor
from cloud_bridge.engine.stats import StatsBoard
from cloud_bridge.store.sqlite.store import SQLiteStore
from protocol import format_ts
from tests.support import bin_messages as msg
from tests.support import openapi
from tests.test_api import NOW, DirectActions, api_settings, auth

NOW_TEXT = format_ts(NOW)

WAITS = 40


class WatchedActions(DirectActions):
    """The action path, with the watchers the API registers kept until a test settles."""

    def __init__(self, processor: Processor, store: SQLiteStore) -> None:
        super().__init__(processor, store)
        self.board = StatsBoard()
        self.registered = 0
        self.changed = threading.Condition()

    def watch_command(self, command_id: str, notify: Callable[[], None]) -> Callable[[], None]:
        stop = self.board.watch(command_id, notify)
        with self.changed:
            self.registered += 1
            self.changed.notify_all()
        return stop

    def wait_registered(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.registered >= count, timeout)


class SmallThreadPool:
    """ASGI middleware that cuts the server loop's thread pool to ``tokens`` threads and
    keeps its limiter, so the test can see how many threads are borrowed."""

    def __init__(self, app: ASGIApp, tokens: int) -> None:
        self.app = app
        self.tokens = tokens
        self.limiter: CapacityLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.limiter is None:
            self.limiter = anyio.to_thread.current_default_thread_limiter()
            self.limiter.total_tokens = self.tokens
        await self.app(scope, receive, send)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ApiServer, WatchedActions, list[SmallThreadPool]]]:
    path = tmp_path / "bridge.db"
    settings = api_settings(path)
    api = settings.api.model_copy(update={"max_waits_per_token": WAITS})
    settings = settings.model_copy(update={"api": api})
    store = SQLiteStore(path)
    processor = Processor(settings, store, lambda: NOW)
    processor.process([Inbound(*msg.state("bin-001", 1, region="north")),
                       Inbound(*msg.telemetry("bin-001", 2, 91.0)),
                       Inbound(*msg.state("bin-002", 1, region="north")),
                       Inbound(*msg.state("bin-002", 2, online=False))])  # fmt: skip
    actions = WatchedActions(processor, store)
    readers = ReaderPool.sqlite(str(path))
    tokens = TokenTable.from_settings(settings.api)
    context = ApiContext(settings, readers, actions, lambda: NOW, tokens)
    app = create_app(context)
    pools: list[SmallThreadPool] = []

    def small_pool(inner: ASGIApp) -> SmallThreadPool:
        pools.append(SmallThreadPool(inner, 2))
        return pools[-1]

    app.add_middleware(small_pool)
    server = ApiServer(app, "127.0.0.1", 0, on_stop=readers)
    server.start()
    try:
        yield server, actions, pools
    finally:
        server.stop()
        store.close()


def test_forty_waits_hold_no_thread_and_the_41st_of_a_token_is_a_429(
    served: tuple[ApiServer, WatchedActions, list[SmallThreadPool]],
) -> None:
    server, actions, pools = served
    url = server.url
    tech = auth("tech")

    async def scenario() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            sent = await http.post("/v1/bins/bin-001/commands", headers=tech,
                                   json={"name": "ping", "ttl_s": 60})  # fmt: skip
            assert sent.status_code == 201, sent.text
            command_id = sent.json()["id"]
            path = f"/v1/commands/{command_id}"
            waits = [
                asyncio.ensure_future(http.get(path, params={"wait": 30}, headers=tech))
                for _ in range(WAITS)
            ]
            pending = asyncio.get_running_loop().run_in_executor(
                None, actions.wait_registered, WAITS, 30
            )
            assert await pending, "the forty waits never reached the bridge"
            (pool,) = pools
            assert pool.limiter is not None
            assert pool.limiter.total_tokens == 2
            assert pool.limiter.borrowed_tokens == 0  # the waits hold no thread

            # sync routes (each needs one of the two threads) still answer
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            pickups = await http.get("/v1/pickups?open=true", headers=auth("sched"))
            acked = await http.post(f"/v1/pickups/{pickups.json()[0]['pickup_id']}/acknowledge",
                                    headers=auth("sched"))  # fmt: skip
            assert acked.status_code == 200, acked.text
            other = await http.post("/v1/bins/bin-001/commands", headers=auth("admin"),
                                    json={"name": "ping"})  # fmt: skip
            assert other.status_code == 201

            refused = await http.get(path, params={"wait": 30}, headers=tech)
            assert refused.status_code == 429
            assert "at most 40 at a time, api.max_waits_per_token" in refused.json()["detail"]
            document = (await http.get("/openapi.json")).json()
            _, operation = openapi.route_operation(document, "GET", path)
            schema = openapi.error_schema(operation, 429)
            assert schema is not None  # documented, and the body conforms
            assert openapi.conformity(refused.json(), schema, document) == []
            unbounded = await http.get(path, headers=tech)  # no wait: no slot needed
            assert unbounded.json()["status"] == "pending"
            # the bound is per token: another token still waits
            waits.append(
                asyncio.ensure_future(http.get(path, params={"wait": 30}, headers=auth("admin")))
            )
            pending = asyncio.get_running_loop().run_in_executor(
                None, actions.wait_registered, WAITS + 1, 30
            )
            assert await pending, "another token's wait was refused"
            assert not any(wait.done() for wait in waits)

            # the bin answers: every waiting caller gets the answer at once
            result = msg.command_result("bin-001", 3, command_id, result={"pong": True})
            actions.processor.process([Inbound(*result)])
            actions.board.settle([command_id])  # what the writer does after the commit
            answers = await asyncio.gather(*waits)
            assert {(a.status_code, a.json()["status"]) for a in answers} == {(200, "ok")}
            # the slots were given back: a wait on a pending command is no 429
            still_pending = f"/v1/commands/{other.json()['id']}"
            again = await http.get(still_pending, params={"wait": 0.01}, headers=tech)
            return {"again": (again.status_code, again.json()["status"])}

    outcome = asyncio.run(scenario())
    assert outcome["again"] == (200, "pending")


def test_stopping_the_api_ends_the_waits_at_once(
    served: tuple[ApiServer, WatchedActions, list[SmallThreadPool]],
) -> None:
    """A stop used to wait for every long poll to run out its wait (up to 30 s)."""
    server, actions, _ = served
    with httpx.Client(base_url=server.url, headers=auth("tech"), timeout=60) as http:
        sent = http.post("/v1/bins/bin-001/commands", json={"name": "ping"}).json()
        with ThreadPoolExecutor(1) as pool:
            wait = pool.submit(http.get, f"/v1/commands/{sent['id']}", params={"wait": 30})
            assert actions.wait_registered(1, 30)
            server.stop(timeout=20)
            assert wait.done()  # answered before the server thread ended
            answer = wait.result()
    assert (answer.status_code, answer.json()["status"]) == (200, "pending")


def test_the_board_calls_watchers_once_when_settled_and_stops_when_asked() -> None:
    board = StatsBoard()
    calls: list[str] = []
    board.watch("c1", lambda: calls.append("first"))
    stop = board.watch("c1", lambda: calls.append("stopped"))
    board.watch("c2", lambda: calls.append("other"))
    stop()
    board.settle(["c1"])
    assert calls == ["first"]
    board.settle(["c1"])  # watchers are called once
    assert calls == ["first"]
    board.watch("c1", lambda: calls.append("late"))  # already settled: called at once
    assert calls == ["first", "late"]


def _cli(url: str, *args: str) -> Result:
    """``bin-bridge cmd ARGS`` against the served API, as the technician."""
    return CliRunner().invoke(
        cli, ["cmd", *args, "--api", url], env={"REVLOOP_API_TOKEN": "tech-token"}
    )


@pytest.mark.parametrize("ttl", [0, 0.5, 86400.5, 10**9, 30 * 86400 + 1])
def test_the_api_and_the_cli_refuse_the_same_lifetimes(
    served: tuple[ApiServer, WatchedActions, list[SmallThreadPool]], ttl: float
) -> None:
    """The CLI's range was 1 to 30 days while the bridge took at most commands.max_ttl_s
    (a day): 100000 passed the CLI and came back as an HTTP error. Now one rule
    (``ttl_problem``) bounds both, by the running bridge's setting."""
    server, actions, _ = served
    expected = "a command's lifetime must be between 1 s and"
    response = httpx.post(f"{server.url}/v1/bins/bin-001/commands", headers=auth("tech"),
                          json={"name": "ping", "ttl_s": ttl})  # fmt: skip
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", "ttl_s"]
    assert item["msg"].startswith(expected)
    result = _cli(server.url, "bin-001", "ping", "--ttl", str(ttl), "--wait", "0")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--ttl'" in result.output
    assert expected in result.output
    assert actions.published == []


@pytest.mark.parametrize("ttl", ["nan", "inf", "-1", "soon"])
def test_the_cli_refuses_what_is_not_a_lifetime_before_sending(
    served: tuple[ApiServer, WatchedActions, list[SmallThreadPool]], ttl: str
) -> None:
    server, actions, _ = served
    result = _cli(server.url, "bin-001", "ping", "--ttl", ttl)
    assert result.exit_code == 2
    assert "Invalid value for '--ttl'" in result.output
    assert actions.published == []


@pytest.mark.parametrize("ttl", ["1", "86400"])
def test_the_limits_themselves_are_accepted_by_both(
    served: tuple[ApiServer, WatchedActions, list[SmallThreadPool]], ttl: str
) -> None:
    server, actions, _ = served
    response = httpx.post(f"{server.url}/v1/bins/bin-001/commands", headers=auth("tech"),
                          json={"name": "ping", "ttl_s": float(ttl)})  # fmt: skip
    assert response.status_code == 201
    result = _cli(server.url, "bin-001", "ping", "--ttl", ttl, "--wait", "0")
    assert result.exit_code == TIMEOUT_EXIT_CODE, result.output  # sent, no answer in 0 s
    assert len(actions.published) == 2


def test_a_command_to_an_offline_bin_says_so_at_once(
    served: tuple[ApiServer, WatchedActions, list[SmallThreadPool]],
) -> None:
    server, _, _ = served
    tech = auth("tech")
    online = httpx.post(f"{server.url}/v1/bins/bin-001/commands", headers=tech,
                        json={"name": "ping"}).json()  # fmt: skip
    assert (online["bin_online"], online["warning"]) == (True, None)
    offline = httpx.post(f"{server.url}/v1/bins/bin-002/commands", headers=tech,
                         json={"name": "ping", "ttl_s": 90}).json()  # fmt: skip
    assert offline["bin_online"] is False
    assert offline["warning"] == (
        f"bin bin-002 is offline since {NOW_TEXT}: the command waits in its broker session "
        "and runs only if the bin returns before 2026-11-23T09:01:30.000Z (ttl 90 s); "
        "unanswered, it times out at 2026-11-23T09:02:00.000Z"
    )
    document = httpx.get(f"{server.url}/openapi.json").json()
    _, operation = openapi.route_operation(document, "POST", "/v1/bins/bin-002/commands")
    schema = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert openapi.conformity(offline, schema, document) == []

    result = _cli(server.url, "bin-002", "ping", "--ttl", "90", "--wait", "0")
    assert result.exit_code == TIMEOUT_EXIT_CODE
    first = result.stderr.splitlines()[0]
    assert first.startswith("bin-bridge: warning: bin bin-002 is offline since")
    assert first.endswith("; waiting 0 s")
    assert "timed out: no answer from bin-002" in result.stderr
