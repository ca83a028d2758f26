"""``bin-sim demo`` end to end on its embedded broker, small and as fast as possible."""

from __future__ import annotations

import json

from click.testing import CliRunner

from simulator.cli import cli
from tests.support.collector import Collector
from tests.support.mosquitto import Mosquitto


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
