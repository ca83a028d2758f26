"""One bin to one pickup, end to end: the real agent, Mosquitto, the real bridge, and an
outside subscriber on ``fleet/v1/pickups/#`` as a scheduler's system would be."""

from __future__ import annotations

import json
from pathlib import Path

from agent.clock import ManualClock
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.engine.bridge import Bridge
from simulator.device.physical import Item
from tests.support.bins import SimulatedBin, bin_config, make_bin
from tests.support.collector import Collector, Received
from tests.support.fakes import FixedClassification, ScriptedClassifier
from tests.support.mosquitto import Mosquitto


def run(test_bin: SimulatedBin, clock: ManualClock, seconds: float) -> None:
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        wanted = test_bin.agent.runtime.step()
        clock.advance(max(min(wanted, end) - clock.monotonic(), 0.001))


def deposit(test_bin: SimulatedBin, clock: ManualClock, item: Item) -> None:
    test_bin.physical.door_open = True
    run(test_bin, clock, 1)
    test_bin.physical.place_on_tray(item)
    run(test_bin, clock, 1)
    test_bin.physical.door_open = False
    run(test_bin, clock, 5)


def pickups(messages: list[Received]) -> list[dict[str, object]]:
    return [m.json() for m in messages if m.topic.startswith("fleet/v1/pickups/")]


def test_agent_to_broker_to_bridge_to_pickup(mosquitto: Mosquitto, tmp_path: Path) -> None:
    clock = ManualClock()
    settings = validate_settings(
        {
            "broker": {"url": mosquitto.url, "client_id": "e2e-bridge", "backoff_min_s": 0.1},
            "store": {"path": str(tmp_path / "bridge.db")},
            "pickups": {"pickup_threshold_pct": 80.0, "due_hours": 12.0},
        }
    )
    classifier = ScriptedClassifier(FixedClassification("glass", 0.97))
    config = bin_config(tmp_path, intervals="telemetry_s = 600\nfill_sample_s = 60")
    test_bin = make_bin(config, mosquitto.port, clock=clock, classifier=classifier)
    bridge = Bridge(settings, clock=clock.now)
    bridge.start()
    scheduler = Collector(mosquitto.port, ["fleet/v1/pickups/#"])
    try:
        assert bridge.wait_ready(15)
        test_bin.agent.start_link()
        for _ in range(3):
            deposit(test_bin, clock, Item("glass", 350.0, 0.8))
        # The container fills up to 85 % of its usable depth.
        test_bin.physical.contents_volume_l = 0.6375 * test_bin.physical.container_volume_l
        # the bridge decides on the median of the last three readings: the pickup comes
        # once most of them are over the threshold (telemetry every 10 minutes)
        run(test_bin, clock, 1300)
        received = scheduler.wait_for(lambda ms: len(pickups(ms)) >= 1)
        (requested,) = pickups(received)
        assert requested["status"] == "requested"
        assert requested["bin_id"] == "bin-001"
        assert requested["reason"] == "threshold"
        assert requested["fill_pct"] >= 80  # type: ignore[operator]
        manifest = requested["manifest"]
        assert isinstance(manifest, dict)
        assert manifest.keys() == {"glass"}
        assert manifest["glass"]["count"] == 3
        assert abs(manifest["glass"]["kg"] - 1.05) < 0.01  # three weighed 350 g bottles
        assert requested["location"] == {"lat": 52.5, "lon": 13.4}
        assert received[0].topic == "fleet/v1/pickups/north"

        # A crew empties the bin: the agent sees the fill drop, reports it, and the
        # bridge closes the pickup on that evidence.
        test_bin.physical.empty()
        run(test_bin, clock, 150)
        final = scheduler.wait_for(lambda ms: any(p["status"] == "collected" for p in pickups(ms)))
        collected = next(p for p in pickups(final) if p["status"] == "collected")
        assert collected["pickup_id"] == requested["pickup_id"]
        assert len({p["pickup_id"] for p in pickups(final)}) == 1
        bins = bridge.store.load_bins()
        assert [b.bin_id for b in bins] == ["bin-001"]
        assert json.loads(json.dumps(bins[0].online)) is True
    finally:
        scheduler.close()
        test_bin.agent.stop()
        bridge.stop()
