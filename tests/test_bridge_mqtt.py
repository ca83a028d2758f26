"""The bridge against a real Mosquitto, with outside clients on the other side."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloud_bridge.cli.main import cli
from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.errors import Unavailable
from cloud_bridge.store.sqlite.store import SQLiteStore
from protocol import DepositEvent, Pickup, decode
from tests.support import bin_messages as msg
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client

TIMEOUT = 20.0


@pytest.fixture
def settings(mosquitto: Mosquitto, tmp_path: Path) -> BridgeSettings:
    return validate_settings(
        {
            "broker": {
                "url": mosquitto.url,
                "client_id": "bridge-under-test",
                "backoff_min_s": 0.05,
                "backoff_max_s": 0.5,
            },
            "store": {"path": str(tmp_path / "bridge.db")},
        }
    )


@contextmanager
def running(settings: BridgeSettings, **kwargs: object) -> Iterator[Bridge]:
    bridge = Bridge(settings, **kwargs)  # type: ignore[arg-type]
    bridge.start()
    try:
        assert bridge.wait_ready(TIMEOUT), "bridge did not subscribe"
        yield bridge
    finally:
        bridge.stop()


@contextmanager
def reading(settings: BridgeSettings) -> Iterator[SQLiteStore]:
    store = SQLiteStore(settings.store.path, readonly=True)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[Client]:
    with Client(mosquitto.port) as client:
        yield client


def test_hostile_payloads_are_rejected_and_later_messages_processed(
    settings: BridgeSettings, publisher: Client
) -> None:
    topic, good = msg.telemetry("bin-001", 5, 33.0)
    data = json.loads(good)
    hostile = [
        (topic, b'{"v": 1, "bin_id": '),
        (topic, json.dumps({**data, "fill_pct": "full"}).encode()),
        (topic, b'{"pad": "' + b"x" * 200_000 + b'"}'),
        ("bins/v1/bin-002/telemetry", good),
        (topic, json.dumps({**data, "v": 7}).encode()),
        ("bins/v1/bin-001/events/confetti", good),
    ]
    with running(settings) as bridge:
        for t, payload in hostile:
            publisher.publish(t, payload)
        publisher.publish(topic, good)
        assert bridge.wait_processed(7, TIMEOUT)
        assert bridge.stats.rejected == {
            "malformed": 1,
            "schema": 1,
            "oversized": 1,
            "bin_id_mismatch": 1,
            "version": 1,
            "unknown_topic": 1,
        }
        assert bridge.stats.stored == 1
    with reading(settings) as store:
        assert {c.reason: c.count for c in store.rejection_counts()} == bridge.stats.rejected
        (record,) = store.load_bins()
        assert (record.bin_id, record.fill_pct, record.last_seq) == ("bin-001", 33.0, 5)


def _mosquitto_sub(port: int, topic: str) -> subprocess.Popen[str]:
    """Start mosquitto_sub and return once the broker confirmed its subscription."""
    process = subprocess.Popen(
        [
            "stdbuf",
            "-oL",
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-q",
            "1",
            "-t",
            topic,
            "-v",
            "-d",
            "-C",
            "2",
            "-W",
            str(int(TIMEOUT)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("Subscribed"):
            return process
    raise AssertionError("mosquitto_sub did not subscribe")


def test_pickups_reach_outside_subscribers_and_follow_their_lifecycle(
    settings: BridgeSettings, publisher: Client, mosquitto: Mosquitto
) -> None:
    if shutil.which("mosquitto_sub") is None or shutil.which("stdbuf") is None:
        pytest.fail("mosquitto_sub (mosquitto-clients) and stdbuf are needed")
    with running(settings) as bridge, Client(mosquitto.port) as scheduler:
        scheduler.subscribe("fleet/v1/pickups/+")
        sub = _mosquitto_sub(mosquitto.port, "fleet/v1/pickups/north")
        publisher.publish(*msg.state("bin-001", 1, region="north"), retain=True)
        publisher.publish(*msg.deposit("bin-001", 2, "metal", grams=120))
        # the policy decides on the median of the last three readings
        publisher.publish(*msg.telemetry("bin-001", 3, 50.0))
        publisher.publish(*msg.telemetry("bin-001", 4, 84.0))
        publisher.publish(*msg.telemetry("bin-001", 5, 85.0))
        (raised,) = scheduler.take(1, TIMEOUT)
        assert raised.topic == "fleet/v1/pickups/north"
        assert raised.qos == 1
        first = decode(Pickup, bytes(raised.payload))
        assert (first.status, first.reason, first.bin_id) == ("requested", "threshold", "bin-001")
        assert first.manifest["metal"].count == 1
        # well under and over the threshold again: the same pickup, updated in place
        for seq, fill in enumerate([74.0, 73.0, 83.0, 84.0], start=6):
            publisher.publish(*msg.telemetry("bin-001", seq, fill))
        dip, update = scheduler.take(2, TIMEOUT)
        assert decode(Pickup, bytes(dip.payload)).fill_pct == 74.0
        assert decode(Pickup, bytes(update.payload)).pickup_id == first.pickup_id
        assert decode(Pickup, bytes(update.payload)).fill_pct == 83.0
        publisher.publish(*msg.emptied("bin-001", 10, pickup_id=first.pickup_id))
        (done,) = scheduler.take(1, TIMEOUT)
        collected = decode(Pickup, bytes(done.payload))
        assert (collected.pickup_id, collected.status) == (first.pickup_id, "collected")
        assert bridge.wait_published(TIMEOUT)
        out, _ = sub.communicate(timeout=TIMEOUT)
        lines = [line for line in out.splitlines() if line.startswith("fleet/v1/pickups/north ")]
        seen = [json.loads(line.split(" ", 1)[1]) for line in lines]
        assert [(p["pickup_id"], p["status"]) for p in seen] == [
            (first.pickup_id, "requested"),
            (first.pickup_id, "requested"),
        ]
    with reading(settings) as store:
        assert store.pending_publications() == []
        assert [p.status for p in store.list_pickups()] == ["collected"]


def test_retained_births_seen_at_start_up_register_bins(
    settings: BridgeSettings, publisher: Client
) -> None:
    publisher.publish(*msg.state("bin-001", 1, bd_seq=2, region="north"), retain=True)
    publisher.publish(*msg.state("bin-002", 1, bd_seq=7, region="south", lat=1.0), retain=True)
    publisher.publish(*msg.state("bin-003", 1, bd_seq=3, region="east"), retain=True)
    publisher.publish(*msg.state("bin-003", 2, bd_seq=3, online=False, region="east"), retain=True)
    with running(settings) as bridge:
        assert bridge.wait_processed(3, TIMEOUT)
    with reading(settings) as store:
        by_id = {record.bin_id: record for record in store.load_bins()}
    assert set(by_id) == {"bin-001", "bin-002", "bin-003"}
    assert by_id["bin-001"].online
    assert by_id["bin-001"].region == "north"
    assert by_id["bin-002"].location is not None
    assert by_id["bin-002"].location.lat == 1.0
    assert not by_id["bin-003"].online
    assert by_id["bin-003"].region == "east"
    # a restart sees the same retained births again and changes nothing
    with running(settings) as bridge:
        assert bridge.wait_processed(3, TIMEOUT)
    with reading(settings) as store:
        again = {record.bin_id: record.online for record in store.load_bins()}
    assert again == {"bin-001": True, "bin-002": True, "bin-003": False}


def test_a_stale_death_over_mqtt_does_not_mark_the_bin_offline(
    settings: BridgeSettings, publisher: Client
) -> None:
    with running(settings) as bridge:
        publisher.publish(*msg.state("bin-001", 10, bd_seq=5), retain=True)
        publisher.publish(*msg.state("bin-001", 3, bd_seq=4, online=False), retain=True)
        assert bridge.wait_processed(2, TIMEOUT)
    with reading(settings) as store:
        (record,) = store.load_bins()
    assert record.online
    assert record.bd_seq == 5


def test_messages_sent_while_the_bridge_is_down_arrive_after_it_returns(
    settings: BridgeSettings, publisher: Client
) -> None:
    with running(settings):
        pass  # creates the persistent session
    publisher.publish_many([msg.telemetry("bin-001", seq, 20.0) for seq in range(1, 301)])
    with running(settings) as bridge:
        assert bridge.wait_processed(300, TIMEOUT)
        assert bridge.stats.stored == 300
    with reading(settings) as store:
        assert store.message_counts() == {"telemetry": 300}
        assert store.load_bins()[0].last_seq == 300


def quick_retries(settings: BridgeSettings) -> BridgeSettings:
    """The settings with failed commits retried every 50 ms."""
    return settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"retry_delay_s": 0.05})}
    )


def assert_a_healthy_bridge_gets_them(settings: BridgeSettings, count: int) -> None:
    """A bridge on a working store, on the same session, stores the ``count`` telemetry
    messages the broker kept unacknowledged."""
    with running(settings) as bridge:
        assert bridge.wait_processed(count, TIMEOUT)
    with reading(settings) as store:
        assert store.message_counts() == {"telemetry": count}


class FailingStore:
    """Wraps a store and fails every commit, as a full disk would."""

    def __init__(self, inner: SQLiteStore) -> None:
        self._inner = inner
        self.attempts = 0

    def transaction(self) -> AbstractContextManager[None]:
        self.attempts += 1
        raise sqlite3.OperationalError("database or disk is full")

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_nothing_is_acknowledged_before_it_is_committed(
    settings: BridgeSettings, publisher: Client
) -> None:
    inner = SQLiteStore(settings.store.path)
    failing = FailingStore(inner)
    quick = quick_retries(settings)
    with running(quick, store=failing) as bridge:
        publisher.publish_many([msg.telemetry("bin-001", seq, 20.0) for seq in range(1, 51)])
        assert bridge.wait_for(lambda s: s.received >= 50, TIMEOUT)
        assert bridge.wait_for(lambda _: failing.attempts >= 3, TIMEOUT)
        assert bridge.stats.processed == 0
    assert inner.message_counts() == {}
    inner.close()
    # the broker kept every unacknowledged message for the session
    assert_a_healthy_bridge_gets_them(settings, 50)


def sql_error() -> sqlite3.OperationalError:
    """A real SQLite SQL error (``SQLITE_ERROR``): the same statement fails every time."""
    try:
        sqlite3.connect(":memory:").execute("SELECT * FROM no_such_table")
    except sqlite3.OperationalError as err:
        return err
    raise AssertionError("the statement should have failed")


class BrokenStore(FailingStore):
    """Wraps a store whose every commit hits an SQL error, as a damaged schema would."""

    def transaction(self) -> AbstractContextManager[None]:
        self.attempts += 1
        raise sql_error()


def test_a_store_failing_with_sql_errors_acknowledges_nothing(
    settings: BridgeSettings, publisher: Client
) -> None:
    # Not transient, so each message is tried alone; but the failure cannot even be
    # counted: the store is what fails, and the messages wait in the broker.
    inner = SQLiteStore(settings.store.path)
    broken = BrokenStore(inner)
    quick = quick_retries(settings)
    with running(quick, store=broken) as bridge:
        publisher.publish_many([msg.telemetry("bin-001", seq, 20.0) for seq in range(1, 11)])
        assert bridge.wait_for(lambda s: s.received >= 10, TIMEOUT)
        assert bridge.wait_for(lambda _: broken.attempts >= 6, TIMEOUT)
        assert bridge.stats.processed == 0
        assert bridge.error is None
    assert inner.rejection_counts() == []
    inner.close()
    assert_a_healthy_bridge_gets_them(settings, 10)


class SqlPoisonStore:
    """Wraps a store and hits an SQL error on one particular deposit only."""

    def __init__(self, inner: SQLiteStore) -> None:
        self._inner = inner

    def add_deposit(self, event: DepositEvent, received_at: datetime | None = None) -> None:
        if event.deposit_id.endswith("-d2"):
            raise sql_error()
        self._inner.add_deposit(event, received_at)

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_an_sql_error_only_one_message_causes_is_isolated_not_retried_forever(
    settings: BridgeSettings, publisher: Client
) -> None:
    inner = SQLiteStore(settings.store.path)
    with running(settings, store=SqlPoisonStore(inner)) as bridge:
        publisher.publish_many(
            [msg.deposit("bin-001", 1), msg.deposit("bin-001", 2), msg.deposit("bin-001", 3)]
        )
        assert bridge.wait_processed(3, TIMEOUT)
        assert bridge.stats.rejected == {"internal": 1}
    assert inner.message_counts() == {"events/deposit": 2}
    (count,) = inner.rejection_counts()
    assert count.last_detail is not None
    assert "no such table" in count.last_detail
    inner.close()


class PoisonStore:
    """Wraps a store and fails (as a bug would) on one particular deposit."""

    def __init__(self, inner: SQLiteStore) -> None:
        self._inner = inner

    def add_deposit(self, event: DepositEvent, received_at: datetime | None = None) -> None:
        if event.deposit_id.endswith("-d2"):
            raise KeyError("poison")
        self._inner.add_deposit(event, received_at)

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_one_message_the_bridge_fails_on_does_not_stop_the_others(
    settings: BridgeSettings, publisher: Client
) -> None:
    inner = SQLiteStore(settings.store.path)
    with running(settings, store=PoisonStore(inner)) as bridge:
        publisher.publish_many(
            [
                msg.deposit("bin-001", 1),
                msg.deposit("bin-001", 2),
                msg.deposit("bin-001", 3),
                msg.telemetry("bin-001", 4, 30.0),
            ]
        )
        assert bridge.wait_processed(4, TIMEOUT)
        assert bridge.stats.rejected == {"internal": 1}
        assert bridge.stats.stored == 3
    assert inner.message_counts() == {"events/deposit": 2, "telemetry": 1}
    (count,) = inner.rejection_counts()
    assert (count.reason, count.last_topic) == ("internal", "bins/v1/bin-001/events/deposit")
    assert count.last_detail is not None
    assert "poison" in count.last_detail
    inner.close()


def test_a_lone_message_the_bridge_fails_on_is_counted_acknowledged_and_not_fatal(
    settings: BridgeSettings, publisher: Client, caplog: pytest.LogCaptureFixture
) -> None:
    inner = SQLiteStore(settings.store.path)
    with running(settings, store=PoisonStore(inner)) as bridge:
        publisher.publish(*msg.deposit("bin-007", 2))  # alone in its batch
        assert bridge.wait_processed(1, TIMEOUT)
        publisher.publish(*msg.telemetry("bin-007", 3, 30.0))
        assert bridge.wait_processed(2, TIMEOUT)
        assert bridge.error is None
        assert bridge.stats.rejected == {"internal": 1}
        assert bridge.stats.stored == 1
    (count,) = inner.rejection_counts()
    assert (count.reason, count.count) == ("internal", 1)
    assert count.last_topic == "bins/v1/bin-007/events/deposit"
    assert count.last_detail is not None
    assert "bin-007" in count.last_detail
    assert "KeyError" in count.last_detail
    logged = [r for r in caplog.records if "rejected (internal)" in r.getMessage()]
    assert len(logged) == 1
    assert "bin-007" in logged[0].getMessage()
    assert "bins/v1/bin-007/events/deposit" in logged[0].getMessage()
    assert logged[0].exc_info is not None
    inner.close()
    # the poison message was acknowledged: a healthy bridge on the same session does
    # not get it again, only what comes next
    with running(settings) as bridge:
        publisher.publish(*msg.telemetry("bin-007", 4, 31.0))
        assert bridge.wait_processed(1, TIMEOUT)
    with reading(settings) as store:
        assert store.message_counts() == {"telemetry": 2}


def test_a_running_bridge_applies_a_technicians_reset_of_a_reflashed_bin(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    quick = validate_settings(
        {
            "broker": {"url": mosquitto.url, "client_id": "bridge-reset"},
            "store": {"path": str(tmp_path / "bridge.db")},
            "timers": {"tick_s": 0.05, "poll_s": 0.05},
        }
    )
    with running(quick) as bridge, Client(mosquitto.port) as bin1:
        bin1.publish_many([msg.telemetry("bin-001", seq, 10.0) for seq in (1, 2)])
        assert bridge.wait_processed(2, TIMEOUT)
        # the bin is re-flashed: its counter starts again
        bin1.publish(*msg.telemetry("bin-001", 1, 60.0))
        assert bridge.wait_for(lambda s: s.rejected == {"seq_reused": 1}, TIMEOUT)
        result = CliRunner().invoke(
            cli, ["bin", "reset", "bin-001", "--db", str(tmp_path / "bridge.db")]
        )
        assert result.exit_code == 0, result.output
        ticks = bridge.stats.ticks
        assert bridge.wait_for(lambda s: s.ticks >= ticks + 2, TIMEOUT)
        bin1.publish(*msg.telemetry("bin-001", 1, 60.0))
        assert bridge.wait_for(lambda s: s.stored == 3, TIMEOUT)
    with reading(quick) as store:
        (record,) = store.load_bins()
        assert (record.fill_pct, record.last_seq) == (60.0, 3)


class GatedStore:
    """Wraps a store; its transactions wait until the test opens the gate."""

    def __init__(self, inner: SQLiteStore) -> None:
        self._inner = inner
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def transaction(self) -> AbstractContextManager[None]:
        self.waiting.set()
        assert self.gate.wait(TIMEOUT)
        return self._inner.transaction()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_an_action_the_busy_writer_never_started_is_not_carried_out_later(
    settings: BridgeSettings, publisher: Client
) -> None:
    # A 503 for a timed-out action used to leave it queued: done after the client had
    # been told it failed.
    inner = SQLiteStore(settings.store.path)
    gated = GatedStore(inner)
    ran: list[str] = []
    with running(settings, store=gated) as bridge:
        publisher.publish(*msg.telemetry("bin-001", 1, 10.0))
        assert gated.waiting.wait(TIMEOUT)  # the writer is stuck in a commit
        with pytest.raises(Unavailable, match="nothing was done"):
            bridge.call(lambda: ran.append("late"), timeout=0.05)
        gated.gate.set()
        assert bridge.wait_processed(1, TIMEOUT)
        bridge.call(lambda: ran.append("now"))
    assert ran == ["now"]
    inner.close()


def test_a_qos0_flood_is_dropped_and_counted_not_queued_without_bound(
    settings: BridgeSettings, publisher: Client
) -> None:
    inner = SQLiteStore(settings.store.path)
    gated = GatedStore(inner)
    small = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"queue_max": 100})}
    )
    with running(small, store=gated) as bridge:
        publisher.publish(*msg.telemetry("bin-001", 1, 10.0))
        assert gated.waiting.wait(TIMEOUT)  # the writer holds message 1, the queue is empty
        for seq in range(2, 502):
            publisher.publish(*msg.telemetry("bin-001", seq, 10.0), qos=0)
        assert bridge.wait_for(lambda s: s.dropped >= 400, TIMEOUT)
        dropped = bridge.stats.dropped
        gated.gate.set()
        assert bridge.wait_processed(501, TIMEOUT)
        assert bridge.stats.rejected == {"overload": dropped}
        assert bridge.stats.stored == 501 - dropped
    assert {c.reason: c.count for c in inner.rejection_counts()} == {"overload": dropped}
    inner.close()


def test_a_bridge_runs_once(settings: BridgeSettings) -> None:
    with running(settings) as bridge:
        pass
    with pytest.raises(RuntimeError, match="starts once"):
        bridge.start()


def test_a_broker_restart_loses_nothing(tmp_path: Path, settings: BridgeSettings) -> None:
    persistent = Mosquitto(
        tmp_path,
        extra_config=f"persistence true\npersistence_location {tmp_path}/\nuser root\n",
    )
    settings = settings.model_copy(
        update={"broker": settings.broker.model_copy(update={"url": persistent.url})}
    )
    with persistent, Client(persistent.port) as publisher, running(settings) as bridge:
        publisher.publish_many([msg.telemetry("bin-001", seq, 20.0) for seq in range(1, 101)])
        assert bridge.wait_processed(100, TIMEOUT)
        publisher.close()
        persistent.restart()
        assert bridge.wait_for(lambda s: s.connections >= 2, TIMEOUT)
        assert bridge.wait_ready(TIMEOUT)
        with Client(persistent.port) as again:
            again.publish_many([msg.telemetry("bin-001", seq, 20.0) for seq in range(101, 201)])
        # Redelivered copies count as processed duplicates: wait for what was stored.
        assert bridge.wait_for(lambda s: s.stored >= 200, TIMEOUT)
    # messages queued for the bridge's session survive a broker restart too
    with persistent:
        with Client(persistent.port) as publisher:
            publisher.publish_many([msg.telemetry("bin-001", seq, 20.0) for seq in range(201, 251)])
        persistent.restart()
        with running(settings) as bridge:
            assert bridge.wait_for(lambda s: s.stored >= 50, TIMEOUT)
    with reading(settings) as store:
        assert store.message_counts() == {"telemetry": 250}
        assert store.load_bins()[0].last_seq == 250


def test_pickups_left_in_the_outbox_are_published_at_start(
    settings: BridgeSettings, mosquitto: Mosquitto
) -> None:
    store = SQLiteStore(settings.store.path)
    with store.transaction():
        store.queue_publication("fleet/v1/pickups/north", b'{"left": "over"}')
    store.close()
    with Client(mosquitto.port) as scheduler:
        scheduler.subscribe("fleet/v1/pickups/#")
        with running(settings) as bridge:
            (message,) = scheduler.take(1, TIMEOUT)
            assert message.payload == b'{"left": "over"}'
            assert bridge.wait_published(TIMEOUT)
    with reading(settings) as check:
        assert check.pending_publications() == []
