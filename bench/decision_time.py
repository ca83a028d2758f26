"""Decision time of a deposit in bin time: door closed to accept/reject, on the pin level.

A simulated bin runs the real agent on the real drivers over the pin-level simulator
(HX711 at 10 SPS, JSN-SR04T, debounced door switch, servo flap, simulated camera with
a 150 ms capture), with the shipped ONNX classifier. The classifier's wall time on this
machine is charged to the bin's virtual clock, so the figure includes inference. The
agent is stepped as ``bin-agent run`` steps it: at the time it asks for, or at once when
a door or beam edge wakes it (looked at every millisecond of bin time).

For each deposit: the visitor opens the door, puts an item (a TrashNet photo of its
material, a weight drawn for it) on the tray and closes the door; the time from that
close to the intake's decision is the decision time.

Run: .venv/bin/python bench/decision_time.py [--deposits 60]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from agent.app import Agent
from agent.classifier import build_classifier
from agent.hardware.devices import Image
from agent.intake import Classification, DepositClassifier
from firmware_config import PROFILES_DIR, load_config
from protocol.transport import BrokerUrl
from simulator.device.camera import find_photo_dir
from simulator.pins.backend import PinSimulation, build_pin_hardware, physical_from_config
from simulator.pins.clock import PinClock
from simulator.world.arrivals import ItemCatalog

WAKE_GRAIN_S = 0.001
"""How often the bench's loop looks for a wake (a real thread wakes within microseconds)."""


class ChargedClassifier:
    """Charges the wrapped classifier's wall time to the bin's virtual clock."""

    def __init__(self, inner: DepositClassifier, clock: PinClock) -> None:
        self.inner = inner
        self.clock = clock
        self.version = inner.version
        self.wall_ms: list[float] = []

    def classify(self, image: Image, weight_g: float | None) -> Classification:
        """Classify and advance virtual time by what it took."""
        start = time.perf_counter()
        result = self.inner.classify(image, weight_g)
        elapsed = time.perf_counter() - start
        self.wall_ms.append(elapsed * 1000)
        self.clock.sleep(elapsed)
        return result


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0-1) by linear interpolation."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def main() -> None:
    """Run the deposits and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deposits", type=int, default=60)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # a bin without a broker complains; not news here
    if find_photo_dir(None) is None:
        raise SystemExit("needs ../shared/data/trashnet-dev (the photos are not committed)")

    config = load_config(PROFILES_DIR / "sim-pin.toml")
    workdir = Path(tempfile.mkdtemp(prefix="revloop-decision-"))
    config.storage.path = workdir / "agent.db"
    physical = physical_from_config(config)
    hardware = build_pin_hardware(config, None, physical)
    assert isinstance(hardware.simulation, PinSimulation)
    clock = PinClock(hardware.simulation.gpio.clock)
    classifier = ChargedClassifier(build_classifier(config.classifier), clock)
    agent = Agent.build(
        config,
        hardware,
        clock,
        endpoint=BrokerUrl("127.0.0.1", 1, False),
        idle_poll_s=config.intervals.door_poll_ms / 1000.0,
        classifier=classifier,
    )
    intake = agent.runtime.intake
    assert intake is not None
    catalog = ItemCatalog(random.Random(args.seed))
    visitor = random.Random(args.seed + 1)

    runtime = agent.runtime
    take_wake = getattr(runtime, "take_wake", lambda: False)  # older agents: polled only

    def run(
        seconds: float, *, act_at: float | None = None, act: Callable[[], object] = str
    ) -> None:
        """Step the agent for ``seconds`` as ``bin-agent run`` does: it sleeps until the
        time it asked for or until an edge wakes it. ``act`` (the visitor) happens at
        ``act_at`` while the agent waits, not in step with its loop."""
        end = clock.monotonic() + seconds
        pending = act_at is not None
        while clock.monotonic() < end:
            wanted = runtime.step()
            target = max(min(wanted, end), clock.monotonic() + WAKE_GRAIN_S)
            while (remaining := target - clock.monotonic()) > 1e-6:
                if pending and act_at is not None and clock.monotonic() >= act_at:
                    act()
                    pending = False
                clock.sleep(min(WAKE_GRAIN_S, remaining))
                if take_wake():
                    break

    def close_door() -> None:
        physical.door_open = False

    decision_s: list[float] = []
    wall_s: list[float] = []
    correct = 0
    run(2.0)
    for _ in range(args.deposits):
        item = catalog.draw()
        started = time.perf_counter()
        physical.door_open = True
        run(1.0)
        physical.place_on_tray(item)
        # The visitor closes the door at a moment of their own, while the agent waits.
        closed_at = clock.monotonic() + 1.0 + visitor.uniform(0.0, 0.1)
        before = intake.decided_at
        run(1.0 + 0.2, act_at=closed_at, act=close_door)
        while intake.decided_at == before and clock.monotonic() - closed_at < 10.0:
            run(0.01)
        decision_s.append(intake.decided_at - closed_at)
        run(1.5)
        wall_s.append(time.perf_counter() - started)
        rows = agent.outbox.pending(0, 100_000)
        deposit = json.loads(next(r.payload for r in reversed(rows) if "deposit" in r.topic))
        correct += deposit["category"] == item.category
        if physical.tray is not None:  # rejected: the visitor takes it back
            physical.door_open = True
            run(0.5)
            physical.take_from_tray()
            physical.door_open = False
            run(2.0)
        agent.outbox.acknowledge([r.seq for r in rows])
    agent.db.close()
    agent.instance_lock.release()
    hardware.close()

    figures = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "deposits": args.deposits,
        "decision_ms_p50": round(percentile(decision_s, 0.5) * 1000, 1),
        "decision_ms_p95": round(percentile(decision_s, 0.95) * 1000, 1),
        "decision_ms_max": round(max(decision_s) * 1000, 1),
        "classifier_wall_ms_p50": round(statistics.median(classifier.wall_ms), 1),
        "simulation_wall_s_per_deposit": round(statistics.median(wall_s), 3),
        "category_correct": round(correct / args.deposits, 3),
    }
    if args.json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        print(f"{name:32} {value}")


if __name__ == "__main__":
    main()
