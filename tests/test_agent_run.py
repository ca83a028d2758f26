"""``bin-agent run`` as a process on each simulated depth: visitors come, the shipped
model classifies their items, and the deposits reach the broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from agent.classifier import build_classifier
from firmware_config import PROFILES_DIR
from firmware_config.schema import Classifier
from tests.support.collector import Collector
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[1]


def profile_copy(name: str, tmp_path: Path) -> Path:
    """A shipped profile with its database in ``tmp_path`` and busy, rhythm-free visitors."""
    document = tomlkit.parse((PROFILES_DIR / f"{name}.toml").read_text())
    document["storage"]["path"] = str(tmp_path / "agent.db")
    simulation = document["simulation"]
    simulation["deposits_per_hour"] = 600
    simulation["daily_rhythm"] = False
    path = tmp_path / f"{name}.toml"
    path.write_text(tomlkit.dumps(document))
    return path


@pytest.mark.parametrize("profile", ["sim-device", "sim-pin"])
def test_run_classifies_deposits_and_stops_on_sigterm(
    profile: str, mosquitto: Mosquitto, tmp_path: Path, trashnet_dir: Path
) -> None:
    config = profile_copy(profile, tmp_path)
    with Collector(mosquitto.port, ["bins/v1/+/events/deposit", "bins/v1/+/state"]) as seen:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent.cli",
                "run",
                "--config",
                str(config),
                "--broker",
                mosquitto.url,
                "--clock-synced",
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            eventually(
                lambda: (
                    process.poll() is not None
                    or sum(m.topic.endswith("/deposit") for m in seen.messages) >= 2
                ),
                timeout=90,
                what="a deposit from bin-agent run",
            )
            received = list(seen.messages)
            if process.poll() is not None:
                pytest.fail(f"bin-agent run exited early: {process.communicate()[1]}")
        finally:
            process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors
        final = seen.wait_for(
            lambda ms: any(m.topic.endswith("/state") and not m.json()["online"] for m in ms)
        )
    deposits = [m.json() for m in received if m.topic.endswith("/deposit")]
    shipped = build_classifier(Classifier()).version
    assert all(d["model"] == shipped for d in deposits), deposits
    assert all(0.0 <= d["confidence"] <= 1.0 for d in deposits)
    goodbye = [m.json() for m in final if m.topic.endswith("/state")][-1]
    assert goodbye["reason"] == "shutdown"
