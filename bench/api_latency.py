"""API latency under concurrent load from a second process.

The server is the real thing: a :class:`~cloud_bridge.runtime.BridgeRuntime` connected to a
Mosquitto this script starts, with its API on uvicorn (as ``bin-bridge run
--api-port``), over a database prepared with ``--bins`` bins (``--readings`` fill
readings and 10 deposits each, a pickup open on 40 % of them). The load comes from a
second Python process (this script with ``--client``): ``--concurrency`` asyncio
workers with one ``httpx.AsyncClient`` (keep-alive), each sending requests back to
back for ``--seconds``, over a mix of endpoints:

- ``GET /v1/bins/{id}`` (30 %), ``GET /v1/bins/{id}/fill?limit=100`` (20 %),
- ``GET /v1/pickups?open=true&region=R`` (20 %), ``GET /v1/deposits?bin_id=..`` (15 %),
- ``GET /v1/bins?region=R`` (10 %), ``POST /v1/pickups/{id}/acknowledge`` (5 %, through
  the bridge's writer thread).

    .venv/bin/python bench/api_latency.py --bins 500 --concurrency 16 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOKEN = "bench-scheduler-token"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
REGIONS = ("north", "south", "east", "west")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# -- the load generator (second process) --------------------------------------------------


async def _worker(
    client: Any, plan: dict[str, Any], deadline: float, rng: random.Random, out: list[Any]
) -> None:
    bins: list[str] = plan["bins"]
    pickups: list[str] = plan["pickups"]
    while time.perf_counter() < deadline:
        draw = rng.random()
        bin_id = rng.choice(bins)
        if draw < 0.30:
            kind, method, path = "bin", "GET", f"/v1/bins/{bin_id}"
        elif draw < 0.50:
            kind, method, path = "fill", "GET", f"/v1/bins/{bin_id}/fill?limit=100"
        elif draw < 0.70:
            kind, method = "open pickups", "GET"
            path = f"/v1/pickups?open=true&region={rng.choice(REGIONS)}"
        elif draw < 0.85:
            kind, method, path = "deposits", "GET", f"/v1/deposits?bin_id={bin_id}"
        elif draw < 0.95:
            kind, method, path = "bins of a region", "GET", f"/v1/bins?region={rng.choice(REGIONS)}"
        else:
            kind, method = "acknowledge", "POST"
            path = f"/v1/pickups/{rng.choice(pickups)}/acknowledge"
        began = time.perf_counter()
        response = await client.request(method, path)
        elapsed = time.perf_counter() - began
        out.append((kind, elapsed, response.status_code))


async def _load(url: str, concurrency: int, seconds: float, plan: dict[str, Any]) -> list[Any]:
    import httpx

    out: list[Any] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits, timeout=30
    ) as client:
        await client.get("/healthz")
        deadline = time.perf_counter() + seconds
        await asyncio.gather(
            *(_worker(client, plan, deadline, random.Random(i), out) for i in range(concurrency))
        )
    return out


def client_main(args: argparse.Namespace) -> None:
    """Run the load and print one JSON object of raw results."""
    plan = json.loads(Path(args.plan).read_text())
    began = time.perf_counter()
    results = asyncio.run(_load(args.url, args.concurrency, args.seconds, plan))
    elapsed = time.perf_counter() - began
    print(json.dumps({"elapsed": elapsed, "results": results}))


# -- the server and the report ---------------------------------------------------------


def prepare(path: Path, bins: int, readings: int) -> dict[str, Any]:
    """A database with a fleet's history; returns the ids the load generator uses."""
    from cloud_bridge.config.settings import validate_settings
    from cloud_bridge.config.store import StoreSettings
    from cloud_bridge.domain.inbound import Inbound
    from cloud_bridge.engine.processor import Processor
    from cloud_bridge.store import open_store
    from tests.support import bin_messages as msg

    store = open_store(StoreSettings(path=path, synchronous="NORMAL"))
    processor = Processor(validate_settings({}), store, lambda: NOW)
    rng = random.Random(5)
    ids = [f"bin-{i:04d}" for i in range(bins)]
    batch: list[Inbound] = []
    for index, bin_id in enumerate(ids):
        batch.append(Inbound(*msg.state(bin_id, 1, region=REGIONS[index % len(REGIONS)],
                                        lat=52.5 + rng.uniform(-0.1, 0.1),
                                        lon=13.4 + rng.uniform(-0.1, 0.1))))  # fmt: skip
        for d in range(10):
            batch.append(Inbound(*msg.deposit(bin_id, 2 + d, grams=rng.uniform(20, 400))))
        top = 85.0 if index % 5 < 2 else 50.0
        for r in range(readings):
            fill = top * (r + 1) / readings
            batch.append(Inbound(*msg.telemetry(bin_id, 20 + r, round(fill, 1))))
        if len(batch) > 5000:
            processor.process(batch)
            batch = []
    processor.process(batch)
    pickups = [p.pickup_id for p in store.list_pickups(open_only=True)]
    store.close()
    return {"bins": ids, "pickups": pickups}


def main() -> None:
    """Prepare, serve, load from a second process, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--bins", type=int, default=500)
    parser.add_argument("--readings", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--switch-ms", type=float, help="thread switch interval (default: what bin-bridge run sets)"
    )
    args = parser.parse_args()
    if args.client:
        client_main(args)
        return

    from cloud_bridge.cli.main import SWITCH_INTERVAL_S
    from cloud_bridge.config.settings import validate_settings
    from cloud_bridge.runtime import BridgeRuntime
    from tests.support.mosquitto import Mosquitto

    sys.setswitchinterval(SWITCH_INTERVAL_S if args.switch_ms is None else args.switch_ms / 1000)
    with tempfile.TemporaryDirectory(prefix="revloop-api-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        plan = prepare(work / "bridge.db", args.bins, args.readings)
        print(f"prepared {args.bins} bins x {args.readings} readings, {len(plan['pickups'])} "
              f"open pickups in {time.perf_counter() - started:.1f} s")  # fmt: skip
        (work / "plan.json").write_text(json.dumps(plan))
        with Mosquitto(work) as broker:
            settings = validate_settings(
                {
                    "broker": {"url": broker.url, "client_id": "bench-api"},
                    "store": {"path": str(work / "bridge.db")},
                    "api": {
                        "port": 0,
                        "tokens": [
                            {
                                "name": "bench",
                                "role": "scheduler",
                                "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
                            }
                        ],
                    },
                }
            )
            bridge = BridgeRuntime(settings, clock=lambda: NOW + timedelta(minutes=1))
            bridge.start()
            try:
                assert bridge.wait_ready(20), "the bridge did not connect"
                output = subprocess.run(
                    [sys.executable, __file__, "--client", "--url", bridge.api.url, "--plan",
                     str(work / "plan.json"), "--concurrency", str(args.concurrency),
                     "--seconds", str(args.seconds)],
                    check=True, capture_output=True, text=True,
                ).stdout  # fmt: skip
            finally:
                bridge.stop()
    report(json.loads(output), args)


def report(data: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the latency table."""
    results = data["results"]
    errors = [r for r in results if r[2] >= 400]
    by_kind: dict[str, list[float]] = {}
    for kind, elapsed, _ in results:
        by_kind.setdefault(kind, []).append(elapsed * 1000)
    every = [ms for values in by_kind.values() for ms in values]
    print(
        f"{len(results)} requests in {data['elapsed']:.1f} s from {args.concurrency} concurrent "
        f"clients = {len(results) / data['elapsed']:.0f} req/s, {len(errors)} errors"
    )
    print("| endpoint | requests | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|---|")
    for kind, values in sorted(by_kind.items(), key=lambda kv: -len(kv[1])):
        print(
            f"| {kind} | {len(values)} | {percentile(values, 0.5):.1f} | "
            f"{percentile(values, 0.99):.1f} | {statistics.fmean(values):.1f} |"
        )
    print(
        f"| **all** | {len(every)} | {percentile(every, 0.5):.1f} | "
        f"{percentile(every, 0.99):.1f} | {statistics.fmean(every):.1f} |"
    )


if __name__ == "__main__":
    main()
