"""``bin-sim demo`` end to end on its embedded broker, small and as fast as possible."""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import tomlkit
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from firmware_config import PROFILES_DIR
from simulator.cli import cli
from simulator.runners.embedded_broker import EmbeddedBroker
from tests.support.collector import Collector
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client


def test_demo_fills_bins_raises_pickups_and_the_crew_collects() -> None:
    result = CliRunner().invoke(
        cli,
        ["demo", "--bins", "3", "--days", "1.5", "--speed", "0", "--peak", "30", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["bins"] == 3
    assert summary["deposits"] > 300
    decided = summary["accepted"] + summary["rejected"]
    assert summary["deposits"] - summary["bins"] <= decided <= summary["deposits"]
    assert summary["pickups"] >= 2
    assert summary["collected"] >= 1
    assert summary["emptied"] >= 1


def test_demo_prints_the_dashboard_url_and_a_token() -> None:
    result = CliRunner().invoke(cli, ["demo", "--bins", "1", "--days", "0.02", "--speed", "0"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Dashboard: http://127\.0\.0\.1:\d+/", result.output), result.output
    assert re.search(r"Demo token \(admin[^)]*\): \S{20,}", result.output), result.output


def test_the_embedded_broker_takes_many_clients_subscribing_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Like a fleet starting: each client subscribes to its own topics as soon as it is
    connected, while retained messages make the broker's per-filter walk wait."""
    count = 40
    caplog.set_level(logging.ERROR)
    with EmbeddedBroker() as broker, Client(broker.port) as seeder:
        seeder.subscribe("bins/v1/+/cmd")
        for index in range(count):
            seeder.publish(f"bins/v1/b-{index:03d}/cmd", b"retained", retain=True)
        clients = []
        subscribed = [threading.Event() for _ in range(count)]
        for index in range(count):
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=f"b-{index:03d}", protocol=mqtt.MQTTv311
            )

            def on_connect(c: mqtt.Client, *_args: object, index: int = index) -> None:
                c.subscribe(f"bins/v1/b-{index:03d}/cmd", qos=1)
                c.subscribe(f"bins/v1/b-{index:03d}/config/desired", qos=1)

            client.on_connect = on_connect
            client.on_subscribe = lambda *_a, done=subscribed[index]: done.set()
            client.connect_async("127.0.0.1", broker.port)
            clients.append(client)
        for client in clients:
            client.loop_start()
        try:
            for index, done in enumerate(subscribed):
                assert done.wait(20), f"client {index} got no SUBACK"
        finally:
            for client in clients:
                client.disconnect()
                client.loop_stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_the_embedded_broker_sends_retained_messages_only_to_subscribers() -> None:
    with EmbeddedBroker() as broker, Client(broker.port) as bridge:
        bridge.subscribe("bins/v1/+/state")
        bridge.subscribe("bins/v1/+/config/desired")
        for index in range(5):
            bridge.publish(f"bins/v1/b-{index:03d}/state", b"birth", retain=True)
        bridge.publish("bins/v1/b-001/config/desired", b"for b-001", retain=True)
        with Client(broker.port, client_id="b-001") as bin1:
            bin1.subscribe("bins/v1/b-001/config/desired")
            bin1.subscribe("bins/v1/b-001/cmd")
            bridge.publish("bins/v1/b-001/cmd", b"sentinel")
            received: list[tuple[str, bytes]] = []
            while not received or received[-1] != ("bins/v1/b-001/cmd", b"sentinel"):
                (message,) = bin1.take(1)
                received.append((message.topic, bytes(message.payload)))
    assert received == [
        ("bins/v1/b-001/config/desired", b"for b-001"),
        ("bins/v1/b-001/cmd", b"sentinel"),
    ]


def test_fleet_loads_an_outside_broker(mosquitto: Mosquitto) -> None:
    with Collector(mosquitto.port, ["bins/v1/+/state", "bins/v1/+/telemetry"]) as seen:
        result = CliRunner().invoke(
            cli,
            ["fleet", "--broker", mosquitto.url, "--bins", "3", "--days", "0.1", "--speed", "0"],
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["bins"] == 3
        received = seen.wait_for(
            lambda ms: (
                {m.json()["bin_id"] for m in ms if m.topic.endswith("/telemetry")}
                == {"sim-0001", "sim-0002", "sim-0003"}
            )
        )
    births = {m.json()["bin_id"] for m in received if m.topic.endswith("/state")}
    assert births == {"sim-0001", "sim-0002", "sim-0003"}


def test_fleet_names_a_bad_broker_url() -> None:
    result = CliRunner().invoke(cli, ["fleet", "--broker", "http://x"])
    assert result.exit_code == 1
    assert "scheme" in result.output


@pytest.mark.parametrize("profile", ["sim-device", "sim-pin"])
def test_single_bin_prints_every_deposit(
    profile: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    document = tomlkit.parse((PROFILES_DIR / f"{profile}.toml").read_text())
    document["storage"]["path"] = str(tmp_path / "agent.db")
    document["simulation"]["deposits_per_hour"] = 300
    document["simulation"]["daily_rhythm"] = False
    config = tmp_path / "bin.toml"
    config.write_text(tomlkit.dumps(document))
    result = CliRunner().invoke(
        cli,
        ["bin", "--config", str(config), "--hours", "0.2", "--speed", "0",
         "--broker", mosquitto.url],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    decisions = [line for line in result.output.splitlines() if " -> " in line]
    summary = result.output.strip().splitlines()[-1]
    items = int(summary.split()[0])
    assert items >= 3
    assert len(decisions) >= items - 1  # the last item may still be on the tray at the end
    assert all(line.endswith(" ms") for line in decisions), decisions


def test_single_bin_refuses_a_real_hardware_profile(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["bin", "--config", str(PROFILES_DIR / "rpi4.toml"), "--hours", "0.1"]
    )
    assert result.exit_code == 1
    assert "sim-device or sim-pin" in result.output
