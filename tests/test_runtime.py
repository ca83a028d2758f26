"""The agent runtime on a virtual clock: periodic reports, alarms, faults, emptying."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.clock import ManualClock
from protocol import decode_bin_message
from protocol.messages import Health, Telemetry
from simulator.device.physical import Item
from tests.support.bins import SimulatedBin, bin_config, make_bin
from tests.support.fakes import FixedClassification, ScriptedClassifier


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[SimulatedBin, ManualClock]]:
    clock = ManualClock()
    config = bin_config(
        tmp_path,
        intervals="telemetry_s = 60\nhealth_s = 300\nfill_sample_s = 30",
    )
    test_bin = make_bin(config, port=1, clock=clock)
    yield test_bin, clock
    test_bin.agent.db.close()
    test_bin.agent.instance_lock.release()


def stored(test_bin: SimulatedBin, suffix: str) -> list[dict[str, Any]]:
    rows = test_bin.agent.outbox.pending(0, 100_000)
    return [json.loads(r.payload) for r in rows if r.topic.endswith(suffix)]


def run_for(test_bin: SimulatedBin, clock: ManualClock, seconds: float) -> None:
    end = clock.monotonic() + seconds
    while clock.monotonic() < end:
        wanted = test_bin.agent.runtime.step()
        clock.advance(max(min(wanted, end) - clock.monotonic(), 0.001))


def locked(test_bin: SimulatedBin) -> bool:
    return test_bin.physical.door_locked


def fill_to(test_bin: SimulatedBin, fraction: float) -> None:
    physical = test_bin.physical
    physical.contents_volume_l = fraction * physical.container_volume_l


def test_periodic_telemetry_and_health(sim: tuple[SimulatedBin, ManualClock]) -> None:
    test_bin, clock = sim
    fill_to(test_bin, 0.4)
    run_for(test_bin, clock, 600)
    telemetry = stored(test_bin, "/telemetry")
    assert len(telemetry) == 10
    rows = test_bin.agent.outbox.pending(0, 1000)
    _, message = decode_bin_message(rows[-1].topic, rows[-1].payload)
    last = next(r for r in reversed(rows) if r.topic.endswith("/telemetry"))
    _, message = decode_bin_message(last.topic, last.payload)
    assert isinstance(message, Telemetry)
    assert message.fill_pct == pytest.approx(40.0 * 1000 / 750, abs=2)
    assert message.door == "closed"
    health = stored(test_bin, "/health")
    assert len(health) == 2
    health_row = next(r for r in rows if r.topic.endswith("/health"))
    _, report = decode_bin_message(health_row.topic, health_row.payload)
    assert isinstance(report, Health)
    assert report.sensors["ultrasonic"] == "ok"
    assert report.outbox_depth >= 1
    assert (report.outbox_unconfirmed, report.outbox_unconfirmed_oldest_s) == (0, 0.0)
    # Rows the broker took and the bridge has not confirmed are reported, with the age
    # of the oldest.
    test_bin.agent.outbox.mark_sent([rows[0].seq, rows[1].seq])
    clock.advance(30)
    test_bin.agent.runtime.emit_health()
    newest = test_bin.agent.outbox.pending(0, 1000)[-1]
    _, again = decode_bin_message(newest.topic, newest.payload)
    assert isinstance(again, Health)
    assert (again.outbox_unconfirmed, again.outbox_unconfirmed_oldest_s) == (2, 30.0)
    seqs = [json.loads(r.payload)["seq"] for r in rows]
    assert seqs == sorted(seqs)


def test_overflow_locks_and_hysteresis_unlocks(sim: tuple[SimulatedBin, ManualClock]) -> None:
    test_bin, clock = sim
    fill_to(test_bin, 0.8)
    run_for(test_bin, clock, 60)
    fill_to(test_bin, 0.74)  # 98.7 % of the usable depth
    run_for(test_bin, clock, 60)
    assert locked(test_bin)
    alarms = stored(test_bin, "/events/alarm")
    assert [(a["kind"], a["active"]) for a in alarms] == [("overflow", True)]
    fill_to(test_bin, 0.70)  # 93 %: between unlock (85) and lock (95): stays locked
    run_for(test_bin, clock, 60)
    assert locked(test_bin)
    assert stored(test_bin, "/telemetry")[-1]["door"] == "locked"
    test_bin.physical.empty()
    run_for(test_bin, clock, 90)
    assert not locked(test_bin)
    assert [(a["kind"], a["active"]) for a in stored(test_bin, "/events/alarm")] == [
        ("overflow", True),
        ("overflow", False),
    ]


def test_emptying_is_confirmed_twice_then_reported(sim: tuple[SimulatedBin, ManualClock]) -> None:
    test_bin, clock = sim
    agent_state = test_bin.agent.runtime.state
    agent_state.deposits_since_empty = 12
    agent_state.contents_g = 5400.0
    fill_to(test_bin, 0.6)
    run_for(test_bin, clock, 60)
    test_bin.physical.empty()
    run_for(test_bin, clock, 29)
    assert stored(test_bin, "/events/emptied") == []
    run_for(test_bin, clock, 60)
    (emptied,) = stored(test_bin, "/events/emptied")
    assert emptied["fill_before_pct"] == pytest.approx(80, abs=2)
    assert emptied["fill_after_pct"] == pytest.approx(0, abs=1)
    assert emptied["weight_before_kg"] == 5.4
    assert agent_state.deposits_since_empty == 0
    run_for(test_bin, clock, 300)
    assert len(stored(test_bin, "/events/emptied")) == 1


def test_a_bin_emptied_early_at_low_fill_is_reported(
    sim: tuple[SimulatedBin, ManualClock],
) -> None:
    # A crew answering an early forecast pickup empties the bin at 20 %: it can never
    # fall the full-size 30 points, but falling to near zero is an emptying all the same.
    test_bin, clock = sim
    fill_to(test_bin, 0.15)  # 20 % of the usable depth
    run_for(test_bin, clock, 120)
    test_bin.physical.empty()
    run_for(test_bin, clock, 90)
    (emptied,) = stored(test_bin, "/events/emptied")
    assert emptied["fill_before_pct"] == pytest.approx(20, abs=2)
    assert emptied["fill_after_pct"] == pytest.approx(0, abs=1)


def test_one_wild_fill_reading_makes_neither_a_peak_nor_an_emptying(
    sim: tuple[SimulatedBin, ManualClock],
) -> None:
    test_bin, clock = sim
    fill_to(test_bin, 0.045)  # 6 %
    run_for(test_bin, clock, 120)
    fill_to(test_bin, 0.135)  # one reading of 18 %, as a glitch or an item passing
    run_for(test_bin, clock, 30)
    fill_to(test_bin, 0.045)
    run_for(test_bin, clock, 300)
    spikes = [t for t in stored(test_bin, "/telemetry") if (t["fill_pct"] or 0) > 15]
    assert len(spikes) == 1
    assert test_bin.agent.runtime.state.fill_peak_pct < 10
    assert stored(test_bin, "/events/emptied") == []


def test_fire_and_door_stuck_alarms(sim: tuple[SimulatedBin, ManualClock]) -> None:
    test_bin, clock = sim
    test_bin.physical.air_temp_c = 85.0
    test_bin.physical.door_open = True
    run_for(test_bin, clock, 150)
    kinds = {(a["kind"], a["active"]) for a in stored(test_bin, "/events/alarm")}
    assert ("fire", True) in kinds
    assert ("door_stuck", True) in kinds
    test_bin.physical.air_temp_c = 20.0
    test_bin.physical.door_open = False
    run_for(test_bin, clock, 60)
    kinds = {(a["kind"], a["active"]) for a in stored(test_bin, "/events/alarm")}
    assert ("fire", False) in kinds
    assert ("door_stuck", False) in kinds


def test_device_fault_raised_and_cleared(sim: tuple[SimulatedBin, ManualClock]) -> None:
    test_bin, clock = sim
    run_for(test_bin, clock, 10)
    test_bin.faults.inject(ultrasonic="no_echo")
    run_for(test_bin, clock, 60)
    faults = stored(test_bin, "/events/fault")
    assert [(f["component"], f["code"], f["active"]) for f in faults] == [
        ("ultrasonic", "no_echo", True)
    ]
    assert stored(test_bin, "/telemetry")[-1]["fill_pct"] is None
    test_bin.faults.clear("ultrasonic")
    run_for(test_bin, clock, 60)
    faults = stored(test_bin, "/events/fault")
    assert [(f["component"], f["active"]) for f in faults] == [
        ("ultrasonic", True),
        ("ultrasonic", False),
    ]


def test_network_fault_after_a_long_outage(sim: tuple[SimulatedBin, ManualClock]) -> None:
    test_bin, clock = sim
    run_for(test_bin, clock, 400)  # never connected: the link points at port 1
    (fault,) = stored(test_bin, "/events/fault")
    assert (fault["component"], fault["code"]) == ("network", "offline")


def test_state_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    config = bin_config(tmp_path)
    first = make_bin(config, port=1, clock=clock)
    first.agent.runtime.state.deposits_since_empty = 7
    first.agent.runtime.set_alarm("tamper", True, "lid forced")
    first.agent.db.close()
    first.agent.instance_lock.release()
    second = make_bin(config, port=1, clock=clock)
    assert second.agent.runtime.state.active_alarms == {"tamper": "lid forced"}
    second.agent.runtime.set_alarm("tamper", True, "again")  # already active: no new event
    assert len(stored(second, "/events/alarm")) == 1
    second.agent.db.close()
    second.agent.instance_lock.release()


def test_health_reports_the_idle_tray_weight_only_when_the_tray_is_known_empty(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    answer = FixedClassification("trash", 0.9)  # not accepted: handed back
    test_bin = make_bin(
        bin_config(tmp_path, intervals="health_s = 300"),
        port=1,
        clock=clock,
        classifier=ScriptedClassifier(answer),
    )
    runtime = test_bin.agent.runtime
    physical = test_bin.physical
    try:
        zero = runtime.tray_idle_g()
        assert zero is not None
        assert abs(zero) < 3.0  # noise around zero
        test_bin.agent.hardware.scale.offset_g = -25.0  # type: ignore[attr-defined]
        runtime.emit_health()
        reported = stored(test_bin, "/health")[-1]["tray_idle_g"]
        assert 22.0 < reported < 28.0  # the drift shows
        test_bin.agent.hardware.scale.offset_g = 0.0  # type: ignore[attr-defined]
        physical.door_open = True
        run_for(test_bin, clock, 0.5)
        assert runtime.tray_idle_g() is None  # door open: someone may be depositing
        physical.place_on_tray(Item("trash", mass_g=300.0, volume_l=0.5))
        physical.door_open = False
        run_for(test_bin, clock, 3.0)
        (deposit,) = stored(test_bin, "/events/deposit")
        assert deposit["accepted"] is False
        assert runtime.tray_idle_g() is None  # the rejected item may still be there
        physical.door_open = True  # the consumer takes it back
        run_for(test_bin, clock, 0.5)
        physical.take_from_tray()
        physical.door_open = False
        run_for(test_bin, clock, 3.0)
        assert runtime.tray_idle_g() is not None
        test_bin.faults.inject(hx711="stuck_high")
        assert runtime.tray_idle_g() is None  # a failed scale says nothing
    finally:
        test_bin.agent.hardware.close()
        test_bin.agent.db.close()
        test_bin.agent.instance_lock.release()


def test_a_bin_without_an_intake_reports_no_idle_tray_weight(
    sim: tuple[SimulatedBin, ManualClock],
) -> None:
    test_bin, _ = sim
    assert test_bin.agent.runtime.tray_idle_g() is None


def test_a_failing_hook_or_task_never_stops_the_others(
    sim: tuple[SimulatedBin, ManualClock],
) -> None:
    test_bin, clock = sim
    runtime = test_bin.agent.runtime
    calls: list[float] = []

    def broken_hook(now: float) -> float | None:
        calls.append(now)
        raise RuntimeError("a bug in a hook")

    runtime.hooks.insert(0, broken_hook)

    def broken_temperature() -> float | None:
        raise ValueError("driver returned garbage")

    test_bin.agent.hardware.temperature.read_c = broken_temperature  # type: ignore[method-assign]
    run_for(test_bin, clock, 130)
    assert len(calls) > 1  # called at every step, the loop still running
    assert len(stored(test_bin, "/telemetry")) == 3  # periodic work went on meanwhile
    assert not [f for f in stored(test_bin, "/events/fault") if f["component"] == "storage"]


def test_run_survives_a_failing_step(sim: tuple[SimulatedBin, ManualClock]) -> None:
    test_bin, _ = sim
    runtime = test_bin.agent.runtime
    stop = threading.Event()
    steps: list[int] = []

    def step() -> float:
        steps.append(1)
        if len(steps) == 1:
            raise RuntimeError("unexpected")
        stop.set()
        return runtime.clock.monotonic()

    runtime.step = step  # type: ignore[method-assign]
    runtime.wake()
    runtime.run(stop)  # returns: the first failure did not end the loop
    assert len(steps) == 2
