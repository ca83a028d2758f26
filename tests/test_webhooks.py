"""Webhooks: signatures checked by an independent HMAC, retries across a receiver outage
and a bridge restart with nothing lost, dead letters and their retry, order per endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.config.webhooks import DeliverySettings, WebhookEndpoint
from cloud_bridge.runtime import BridgeRuntime
from cloud_bridge.store.sqlite.store import SQLiteStore
from cloud_bridge.webhooks.worker import WebhookWorker, retry_delay, sign
from protocol import Pickup, decode
from tests.support import bin_messages as msg
from tests.support.bin_messages import T0
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client
from tests.support.receiver import Received, Receiver

SECRET = "s3cr3t-for-tests"
TIMEOUT = 20.0


class SharedClock:
    """A clock the test moves, read by the bridge's threads."""

    def __init__(self) -> None:
        self._now = T0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += timedelta(**delta)


def verified(received: Received) -> bytes:
    """The body, after checking its signature with our own HMAC computation."""
    header = received.headers["X-Revloop-Signature"]
    expected = hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    return received.body


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVLOOP_TEST_HOOK", SECRET)


def test_a_stopped_receiver_leaves_no_thread_and_refuses_connections() -> None:
    before = set(threading.enumerate())
    with Receiver() as server:
        server.start()
        for _ in range(3):
            assert httpx.post(server.url, content=b"{}").status_code == 200
        assert len(server.wait_for(3)) == 3
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(httpx.ConnectError):
        httpx.post(server.url, content=b"{}", timeout=2)


def test_the_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"pickup_id":"pk-1","status":"requested"}'
    digest = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert sign(b"key", body) == "sha256=" + digest
    assert sign(b"key", body + b" ") != sign(b"key", body)


def test_retry_delays_double_with_jitter_up_to_the_cap() -> None:
    settings = DeliverySettings(backoff_min_s=10, backoff_max_s=100)
    rng = random.Random(4)
    for failures, step in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (30, 100)):
        delay = retry_delay(failures, settings, rng)
        assert step / 2 <= delay <= step


def worker_on(
    path: Path, clock: SharedClock, receiver: Receiver, **delivery: float
) -> tuple[WebhookWorker, SQLiteStore]:
    store = SQLiteStore(path)
    endpoint = WebhookEndpoint(name="dispatch", url=receiver.url, secret_env="REVLOOP_TEST_HOOK")
    settings = DeliverySettings(**delivery)
    return WebhookWorker([endpoint], settings, store, clock, rng=random.Random(1)), store


def test_a_failed_delivery_waits_for_its_backoff_then_arrives_signed(
    tmp_path: Path, receiver: Receiver
) -> None:
    clock = SharedClock()
    worker, store = worker_on(tmp_path / "q.db", clock, receiver, backoff_min_s=5)
    with store.transaction():
        store.queue_delivery("dispatch", "pickup", "pk-1", b'{"n": 1}', clock())
    assert worker.run_once() == 1  # receiver down: connection refused
    (pending,) = store.list_deliveries(state="pending")
    assert pending.attempts == 1
    assert "Connect" in (pending.last_error or "")
    assert clock() + timedelta(seconds=2.5) <= pending.next_attempt_at
    assert pending.next_attempt_at <= clock() + timedelta(seconds=5)
    receiver.start()
    assert worker.run_once() == 0  # not due yet
    clock.advance(seconds=5)
    assert worker.run_once() == 1
    (got,) = receiver.wait_for(1)
    assert verified(got) == b'{"n": 1}'
    assert got.headers["X-Revloop-Kind"] == "pickup"
    assert got.headers["Content-Type"] == "application/json"
    (done,) = store.list_deliveries(state="delivered")
    assert (done.attempts, done.last_status) == (2, 200)
    store.close()


def test_deliveries_to_an_endpoint_keep_their_order(tmp_path: Path, receiver: Receiver) -> None:
    clock = SharedClock()
    worker, store = worker_on(tmp_path / "q.db", clock, receiver, backoff_min_s=5)
    with store.transaction():
        for n in range(3):
            store.queue_delivery("dispatch", "pickup", f"pk-{n}", f'{{"n": {n}}}'.encode(), clock())
    receiver.status = 503
    receiver.start()
    assert worker.run_once() == 1  # only the head of the queue is tried
    clock.advance(seconds=1)
    assert worker.run_once() == 0  # the head waits for its backoff; the others wait for it
    receiver.status = 200
    clock.advance(seconds=10)
    for _ in range(3):
        worker.run_once()
    got = receiver.wait_for(4)
    assert [json.loads(r.body)["n"] for r in got] == [0, 0, 1, 2]
    assert got[0].headers["X-Revloop-Delivery"] == got[1].headers["X-Revloop-Delivery"]
    store.close()


def test_dead_letters_after_max_attempts_and_their_retry(
    tmp_path: Path, receiver: Receiver
) -> None:
    clock = SharedClock()
    worker, store = worker_on(tmp_path / "q.db", clock, receiver, max_attempts=3, backoff_min_s=1)
    with store.transaction():
        first = store.queue_delivery("dispatch", "pickup", "pk-1", b"{}", clock())
        store.queue_delivery("dispatch", "pickup", "pk-2", b"[]", clock())
    for _ in range(3):
        worker.run_once()
        clock.advance(minutes=5)
    (dead,) = store.list_deliveries(state="dead")
    assert (dead.id, dead.attempts) == (first, 3)
    receiver.start()
    worker.run_once()  # the dead letter no longer blocks the queue
    assert [r.body for r in receiver.wait_for(1)] == [b"[]"]
    with store.transaction():
        assert store.retry_delivery(first, clock())
        assert not store.retry_delivery(first, clock())  # pending, not dead
    worker.run_once()
    assert [r.body for r in receiver.wait_for(2)] == [b"[]", b"{}"]
    assert store.delivery_counts() == {"delivered": 2}
    store.close()


def test_a_missing_secret_is_an_error_not_an_unsigned_post(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REVLOOP_TEST_HOOK")
    clock = SharedClock()
    worker, store = worker_on(tmp_path / "q.db", clock, receiver)
    receiver.start()
    with store.transaction():
        store.queue_delivery("dispatch", "pickup", "pk-1", b"{}", clock())
    worker.run_once()
    (pending,) = store.list_deliveries()
    assert pending.last_error == "secret REVLOOP_TEST_HOOK is not set"
    assert receiver.received == []
    store.close()


def test_a_hanging_endpoint_holds_back_only_its_own_deliveries(tmp_path: Path) -> None:
    clock = SharedClock()
    store = SQLiteStore(tmp_path / "q.db")
    with Receiver() as slow, Receiver() as fast:
        slow.hold = threading.Event()
        slow.start()
        fast.start()
        endpoints = [
            WebhookEndpoint(name="slow", url=slow.url, secret_env="REVLOOP_TEST_HOOK"),
            WebhookEndpoint(name="fast", url=fast.url, secret_env="REVLOOP_TEST_HOOK"),
        ]
        worker = WebhookWorker(endpoints, DeliverySettings(timeout_s=30), store, clock)
        with store.transaction():
            for n in range(3):
                for name in ("slow", "fast"):
                    store.queue_delivery(name, "pickup", f"pk-{n}", f"[{n}]".encode(), clock())
        worker.start()
        try:
            # all three reach the fast endpoint while the slow one still holds its first
            assert [r.body for r in fast.wait_for(3)] == [b"[0]", b"[1]", b"[2]"]
            assert worker.wait_for(lambda s: s.delivered == 3, TIMEOUT)
            assert [r.body for r in slow.wait_for(1)] == [b"[0]"]
            slow.hold.set()
            assert [r.body for r in slow.wait_for(3)] == [b"[0]", b"[1]", b"[2]"]
            assert worker.wait_for(lambda s: s.delivered == 6, TIMEOUT)
        finally:
            slow.hold.set()
            worker.stop()
    assert store.delivery_counts() == {"delivered": 6}
    assert worker.stats.failed == 0
    store.close()


def test_stop_waits_for_the_post_under_way_and_records_it(tmp_path: Path) -> None:
    clock = SharedClock()
    store = SQLiteStore(tmp_path / "q.db")
    with Receiver() as receiver:
        receiver.hold = threading.Event()
        receiver.start()
        endpoint = WebhookEndpoint(
            name="dispatch", url=receiver.url, secret_env="REVLOOP_TEST_HOOK"
        )
        worker = WebhookWorker([endpoint], DeliverySettings(timeout_s=30), store, clock)
        with store.transaction():
            store.queue_delivery("dispatch", "pickup", "pk-1", b"{}", clock())
        worker.start()
        receiver.wait_for(1)  # the POST is under way, its answer held back
        stopper = threading.Thread(target=worker.stop)
        stopper.start()
        receiver.hold.set()
        stopper.join(TIMEOUT)
        assert not stopper.is_alive()
    assert store.delivery_counts() == {"delivered": 1}
    assert not [t for t in threading.enumerate() if t.name.startswith("bridge-webhook")]
    store.close()


def bridge_settings(mosquitto: Mosquitto, tmp_path: Path, receiver: Receiver) -> BridgeSettings:
    return validate_settings(
        {
            "broker": {
                "url": mosquitto.url,
                "client_id": "bridge-webhooks",
                "backoff_min_s": 0.05,
                "backoff_max_s": 0.5,
            },
            "store": {"path": str(tmp_path / "bridge.db")},
            "webhooks": [
                {
                    "name": "north-dispatch",
                    "url": receiver.url,
                    "secret_env": "REVLOOP_TEST_HOOK",
                    "regions": ["north"],
                }
            ],
            "delivery": {"backoff_min_s": 30, "backoff_max_s": 600, "poll_s": 0.05},
            "timers": {"poll_s": 0.05},
        }
    )


def test_webhooks_survive_a_receiver_outage_and_a_bridge_restart(
    mosquitto: Mosquitto, tmp_path: Path, receiver: Receiver
) -> None:
    settings = bridge_settings(mosquitto, tmp_path, receiver)
    clock = SharedClock()
    with Client(mosquitto.port) as bins:
        bridge = BridgeRuntime(settings, clock=clock, rng=random.Random(2))
        bridge.start()
        assert bridge.wait_ready(TIMEOUT)
        assert bridge.webhooks is not None
        bins.publish(*msg.state("bin-001", 1, region="north"))
        bins.publish(*msg.state("bin-002", 1, region="south"))
        bins.publish(*msg.telemetry("bin-001", 2, 85.0))
        bins.publish(*msg.telemetry("bin-002", 2, 85.0))  # south: no webhook
        assert bridge.wait_processed(4, TIMEOUT)
        clock.advance(minutes=20)
        bins.publish(*msg.emptied("bin-001", 3))
        assert bridge.wait_processed(5, TIMEOUT)
        # the receiver is down: the first attempt fails, the rest wait behind it
        assert bridge.webhooks.wait_for(lambda s: s.failed >= 1, TIMEOUT)
        bridge.stop()

    reader = SQLiteStore(settings.store.path, readonly=True)
    (head, second) = sorted(reader.list_deliveries(), key=lambda d: d.id)
    reader.close()
    assert head.state == "pending"
    assert head.attempts >= 1
    assert (second.state, second.attempts) == ("pending", 0)

    receiver.start()
    clock.advance(hours=1)  # past the backoff
    restarted = BridgeRuntime(settings, clock=clock, rng=random.Random(3))
    restarted.start()
    try:
        assert restarted.webhooks is not None
        assert restarted.webhooks.wait_for(lambda s: s.delivered >= 2, TIMEOUT)
    finally:
        restarted.stop()
    got = receiver.wait_for(2)
    pickups = [decode(Pickup, verified(r)) for r in got]
    assert [(p.bin_id, p.status) for p in pickups] == [
        ("bin-001", "requested"),
        ("bin-001", "collected"),
    ]
    assert pickups[0].pickup_id == pickups[1].pickup_id
    reader = SQLiteStore(settings.store.path, readonly=True)
    assert reader.delivery_counts() == {"delivered": 2}
    reader.close()
