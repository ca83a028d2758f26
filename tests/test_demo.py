"""``bin-sim demo`` end to end on its embedded broker, small and as fast as possible."""

from __future__ import annotations

import json

from click.testing import CliRunner

from simulator.cli import cli


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
