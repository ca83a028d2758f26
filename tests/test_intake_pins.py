"""The intake on the real drivers over the pin-level simulator, in bin time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.app import Agent
from agent.intake import Phase
from agent.runtime import EDGE_SAFETY_POLL_S
from firmware_config import PROFILES_DIR, load_config
from protocol.transport import BrokerUrl
from simulator.device.physical import Item, PhysicalBin
from simulator.pins.backend import PinSimulation, build_pin_hardware, physical_from_config
from simulator.pins.clock import PinClock
from tests.support.fakes import FixedClassification, ScriptedClassifier


@dataclass
class PinBin:
    agent: Agent
    clock: PinClock
    physical: PhysicalBin
    sim: PinSimulation
    classifier: ScriptedClassifier

    def run(self, seconds: float) -> None:
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end:
            wanted = self.agent.runtime.step()
            self.clock.sleep(max(min(wanted, end) - self.clock.monotonic(), 0.001))

    def deposit(self, item: Item) -> None:
        self.physical.door_open = True
        self.run(1.0)
        self.physical.place_on_tray(item)
        self.run(1.0)
        self.physical.door_open = False
        self.run(4.0)

    def events(self, suffix: str) -> list[dict[str, Any]]:
        rows = self.agent.outbox.pending(0, 100_000)
        return [json.loads(r.payload) for r in rows if r.topic.endswith(suffix)]


def build_pin_bin(tmp_path: Path, idle_poll_s: float | None = None) -> PinBin:
    """The sim-pin profile's agent on the pin-level simulator, answering 'metal'."""
    config = load_config(PROFILES_DIR / "sim-pin.toml")
    config.storage.path = tmp_path / "agent.db"
    config.simulation.pins.wall_echo_probability = 0.0
    physical = physical_from_config(config)
    hardware = build_pin_hardware(config, None, physical)
    assert isinstance(hardware.simulation, PinSimulation)
    clock = PinClock(hardware.simulation.gpio.clock)
    classifier = ScriptedClassifier(FixedClassification("metal", 0.93))
    agent = Agent.build(
        config,
        hardware,
        clock,
        endpoint=BrokerUrl("127.0.0.1", 1, False),
        classifier=classifier,
        idle_poll_s=idle_poll_s,
    )
    return PinBin(agent, clock, physical, hardware.simulation, classifier)


def close_pin_bin(pin_bin: PinBin) -> None:
    pin_bin.agent.db.close()
    pin_bin.agent.instance_lock.release()
    pin_bin.agent.hardware.close()


@pytest.fixture
def pin_bin(tmp_path: Path) -> Iterator[PinBin]:
    built = build_pin_bin(tmp_path)
    yield built
    close_pin_bin(built)


def test_deposit_decided_within_one_and_a_half_seconds_of_bin_time(pin_bin: PinBin) -> None:
    pin_bin.run(2.0)
    for _ in range(3):
        pin_bin.deposit(Item("metal", 15.0, 0.4))
    deposits = pin_bin.events("/events/deposit")
    assert [d["accepted"] for d in deposits] == [True, True, True]
    assert all(d["weight_g"] == pytest.approx(15.0, abs=2.0) for d in deposits)
    assert max(d["decision_ms"] for d in deposits) <= 1500, [d["decision_ms"] for d in deposits]
    assert len(pin_bin.physical.contents) == 3


def test_rejected_item_stays_on_the_tray(pin_bin: PinBin) -> None:
    pin_bin.classifier.answer = FixedClassification("trash", 0.9)
    pin_bin.run(2.0)
    pin_bin.deposit(Item("trash", 80.0, 1.0))
    (deposit,) = pin_bin.events("/events/deposit")
    assert (deposit["accepted"], deposit["reason"]) == (False, "category_not_accepted")
    assert pin_bin.physical.tray is not None
    assert not pin_bin.physical.door_locked


@pytest.fixture
def polled_bin(tmp_path: Path) -> Iterator[PinBin]:
    """A pin-level bin stepped as ``bin-agent run`` steps it: an idle poll, and a wake
    (a door or beam edge) ends the wait at once."""
    door_poll_s = load_config(PROFILES_DIR / "sim-pin.toml").intervals.door_poll_ms / 1000.0
    built = build_pin_bin(tmp_path, idle_poll_s=door_poll_s)
    yield built
    close_pin_bin(built)


def test_door_edges_wake_the_runtime_at_once(polled_bin: PinBin) -> None:
    runtime = polled_bin.agent.runtime
    clock = polled_bin.clock
    assert runtime.edge_wakes
    polled_bin.run(2.0)
    runtime.take_wake()
    now = clock.monotonic()
    # Idle, the door's edges are what wake the runtime: the poll is only a safety net.
    assert runtime.step() >= min(now + EDGE_SAFETY_POLL_S, runtime.schedule.next())
    polled_bin.physical.door_open = True
    clock.sleep(0.001)  # the switch's first edge comes with the next instant
    assert runtime.take_wake()

    # Stepped as run() steps it: the door closing is seen within its debounce time,
    # not at the intake's next 100 ms look.
    end = clock.monotonic() + 1.0
    while clock.monotonic() < end:
        wanted = runtime.step()
        while clock.monotonic() < min(wanted, end) and not runtime.take_wake():
            clock.sleep(0.001)
    intake = runtime.intake
    assert intake is not None

    def phase() -> Phase:
        return intake.phase

    assert phase() is Phase.DOOR_OPEN
    polled_bin.physical.door_open = False
    closed_at = clock.monotonic()
    while phase() is Phase.DOOR_OPEN:
        wanted = runtime.step()
        while clock.monotonic() < wanted and not runtime.take_wake():
            clock.sleep(0.001)
    config = polled_bin.agent.config
    quiet_s = (config.switches.door_debounce_ms + config.simulation.pins.switch_bounce_ms) / 1e3
    assert clock.monotonic() - closed_at <= quiet_s + 0.005  # bounces + debounce + 1 ms steps
