"""Resident memory of a running ``bin-agent run`` with the classifier loaded.

Starts Mosquitto (it must be installed) and ``bin-agent run`` on the pin-level simulated
profile with busy visitors, waits until the agent has published a few classified
deposits, then reads the agent process's peak and current resident set from /proc.

Run: .venv/bin/python bench/agent_memory.py [--deposits 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import tomlkit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test suite's broker and collector helpers

from firmware_config import PROFILES_DIR  # noqa: E402
from tests.support.collector import Collector  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402


def memory_kb(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process, in kB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0])
    return found


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deposits", type=int, default=5)
    parser.add_argument("--profile", default="sim-pin")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="revloop-memory-"))
    document = tomlkit.parse((PROFILES_DIR / f"{args.profile}.toml").read_text())
    document["storage"]["path"] = str(workdir / "agent.db")
    document["simulation"]["deposits_per_hour"] = 600
    document["simulation"]["daily_rhythm"] = False
    config = workdir / "bin.toml"
    config.write_text(tomlkit.dumps(document))
    with Mosquitto(workdir) as broker, Collector(broker.port, ["bins/v1/+/events/deposit"]) as seen:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "run", "--config", str(config),
             "--broker", broker.url, "--clock-synced"],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        try:
            seen.wait_for(lambda ms: len(ms) >= args.deposits, timeout=600)
            time.sleep(1.0)  # let the last decision's telemetry go out too
            figures = memory_kb(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    print(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "profile": args.profile,
                "deposits_classified": args.deposits,
                "peak_rss_mb": round(figures["VmHWM"] / 1024, 1),
                "rss_mb": round(figures["VmRSS"] / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
