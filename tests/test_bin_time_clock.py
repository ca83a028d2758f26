"""``bin-bridge run --clock-from-bins``: the bridge's time follows a fast simulated fleet.

A fleet at ``--speed 600`` stamps its messages hours and days ahead of the wall clock;
the bridge's :class:`~cloud_bridge.clock.BinTimeClock` takes its time from them, so it
forecasts and dates pickups in the bins' hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from cloud_bridge.cli.main import cli as bridge_cli
from cloud_bridge.clock import BinTimeClock
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.store import open_store
from simulator.cli import cli as sim_cli
from tests.support import bin_messages as msg
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client

START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def test_the_clock_follows_synced_bins_forward_only() -> None:
    clock = BinTimeClock(START)
    assert clock() == START
    clock.observe(START + timedelta(days=3))  # the first bin's time, however far ahead
    assert clock() == START + timedelta(days=3)
    clock.observe(START + timedelta(days=2))  # a late message: time does not go back
    assert clock() == START + timedelta(days=3)
    clock.observe(START + timedelta(days=3, minutes=10))
    assert clock() == START + timedelta(days=3, minutes=10)
    clock.observe(START + timedelta(days=400))  # a wild clock, a year ahead: ignored
    assert clock() == START + timedelta(days=3, minutes=10)


def test_only_synced_timestamps_move_it() -> None:
    clock = BinTimeClock(START)
    _, unsynced = msg.telemetry("bin-001", 1, 10.0)
    clock.observe_payload(unsynced.replace(b'"clock_synced":true', b'"clock_synced":false'))
    assert clock() == START
    clock.observe_payload(b"not json")
    clock.observe_payload(b'{"ts": "yesterday", "clock_synced": true}')
    assert clock() == START
    _, synced = msg.telemetry("bin-001", 3600, 10.0)  # ts = T0 + seq seconds
    clock.observe_payload(synced)
    assert clock() == msg.T0 + timedelta(seconds=3600)


def test_the_bridge_sees_each_message_before_its_writer_queues_it() -> None:
    clock = BinTimeClock(START)
    seen: list[str] = []

    def observe(item: Inbound) -> None:
        seen.append(item.topic)
        clock.observe_payload(item.payload)

    store = open_store(":memory:")
    bridge = Bridge(validate_settings({}), store=store, clock=clock, on_receive=observe)
    topic, payload = msg.telemetry("bin-001", 7200, 10.0)
    bridge._link._deliver(Inbound(topic, payload, qos=1))
    assert seen == [topic]
    assert clock() == msg.T0 + timedelta(seconds=7200)
    store.close()


def test_the_run_command_offers_it_and_the_fleet_says_to_use_it() -> None:
    help_text = CliRunner().invoke(bridge_cli, ["run", "--help"]).output
    assert "--clock-from-bins" in help_text
    fleet_help = CliRunner().invoke(sim_cli, ["fleet", "--help"]).output
    assert "--clock-from-bins" in fleet_help


def test_a_bridge_following_the_bins_dates_what_it_does_in_their_time(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """End to end: the fleet's clock is 5 days ahead of the machine's (a fleet at 600x
    for 12 minutes); the bridge's own dates (``last_seen``, a pickup's ``ts`` and
    ``due_by``) follow it."""
    from cloud_bridge.runtime import following_bins
    from protocol import Location, State, Telemetry, TopicKind, bin_topic, encode

    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    settings = validate_settings(
        {
            "broker": {"url": mosquitto.url, "client_id": "bridge-following-bins"},
            "store": {"path": str(tmp_path / "bridge.db")},
        }
    )
    birth = State(
        bin_id="bin-001", boot_id="b", clock_synced=True, seq=1, ts=ahead, online=True,
        bd_seq=1, agent_version="x", config_version=1, reason="connect", region="north",
        location=Location(lat=52.5, lon=13.4),
    )  # fmt: skip
    full = Telemetry(
        bin_id="bin-001", boot_id="b", clock_synced=True, seq=2,
        ts=ahead + timedelta(minutes=10), fill_pct=90.0, fill_mm=None, weight_kg=None,
        temp_c=None, door="closed", deposits_since_empty=0,
    )  # fmt: skip
    runtime = following_bins(settings)
    runtime.start()
    try:
        assert runtime.wait_ready(20)
        with Client(mosquitto.port) as client:
            client.publish(bin_topic("bin-001", TopicKind.STATE), encode(birth))
            client.publish(bin_topic("bin-001", TopicKind.TELEMETRY), encode(full))
            assert runtime.bridge.wait_processed(2, 20)
    finally:
        runtime.stop()
    store = open_store(settings.store.path, readonly=True)
    try:
        (record,) = store.load_bins()
        assert record.last_seen == full.ts  # the bins' time, not the machine's
        (pickup,) = store.list_pickups()
        assert pickup.ts == full.ts
        assert pickup.due_by == full.ts + timedelta(hours=24)
    finally:
        store.close()
