"""``bin-bridge run --clock-from-bins``: the bridge's time follows a fast simulated fleet.

A fleet at ``--speed 600`` stamps its messages hours and days ahead of the wall clock;
the bridge's :class:`~cloud_bridge.clock.BinTimeClock` takes its time from them, so it
forecasts and dates pickups in the bins' hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from cloud_bridge.cli.main import cli as bridge_cli
from cloud_bridge.clock import BinTimeClock
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.store import open_store
from simulator.cli import cli as sim_cli
from tests.support import bin_messages as msg

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
