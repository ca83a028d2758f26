"""Every injectable fault reaches ``events/fault`` with the right code and health, in a
bounded (virtual) time, and recovery clears it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent.hardware.devices import BinHardware, DeviceError
from agent.runtime.fault_monitor import FaultMonitor
from simulator.device.physical import Item
from tests.support.rigs import Rig, make_sim_rig


@dataclass(frozen=True)
class Case:
    fault: dict[str, Any]
    operate: Callable[[BinHardware], object]
    component: str
    code: str
    health: str
    bound_s: float


def _read_scale(hw: BinHardware) -> object:
    return hw.scale.read_g()


def _measure_fill(hw: BinHardware) -> object:
    return hw.fill.measure(None)


def _capture(hw: BinHardware) -> object:
    return hw.camera.capture(2.0)


def _read_temperature(hw: BinHardware) -> object:
    return hw.temperature.read_c()


CASES = {
    "hx711 data stuck high": Case(
        {"hx711": "stuck_high"}, _read_scale, "loadcell", "not_ready", "failed", 0.6
    ),
    "hx711 data stuck low": Case(
        {"hx711": "stuck_low"}, _read_scale, "loadcell", "data_stuck", "failed", 0.6
    ),
    "hx711 data floating": Case(
        {"hx711": "floating"}, _read_scale, "loadcell", "disconnected", "failed", 0.6
    ),
    "hx711 saturated": Case(
        {"hx711": "saturated"}, _read_scale, "loadcell", "saturated", "failed", 0.6
    ),
    "hx711 clock pulses too long": Case(
        {"gpio_stall_probability": 1.0}, _read_scale, "loadcell", "powered_down", "failed", 2.5
    ),
    "no echo": Case(
        {"ultrasonic": "no_echo"}, _measure_fill, "ultrasonic", "no_echo", "failed", 1.0
    ),
    "echo stuck high": Case(
        {"ultrasonic": "echo_stuck"}, _measure_fill, "ultrasonic", "echo_stuck", "failed", 2.0
    ),
    "target in the blind zone": Case(
        {"ultrasonic": "blind_zone"}, _measure_fill, "ultrasonic", "blind_zone", "failed", 1.0
    ),
    "camera absent": Case({"camera": "absent"}, _capture, "camera", "absent", "failed", 0.1),
    "camera timing out": Case({"camera": "timeout"}, _capture, "camera", "timeout", "failed", 2.1),
    "black frame": Case(  # one exposure (simulation.camera_capture_ms) to see it
        {"camera": "black_frame"}, _capture, "camera", "black_frame", "failed", 0.3
    ),
    "temperature probe absent": Case(
        {"temperature": "absent"}, _read_temperature, "ultrasonic", "temp_absent", "degraded", 0.1
    ),
    "temperature CRC errors": Case(
        {"temperature": "crc_error"},
        _read_temperature,
        "ultrasonic",
        "temp_crc_error",
        "degraded",
        2.5,
    ),
    "temperature power-on value": Case(
        {"temperature": "power_on_reset"},
        _read_temperature,
        "ultrasonic",
        "temp_power_on_reset",
        "degraded",
        2.5,
    ),
}


@pytest.fixture
def rig() -> Iterator[Rig]:
    made = make_sim_rig()
    try:
        yield made
    finally:
        made.hardware.close()


def _attempt(action: Callable[[], object]) -> None:
    with contextlib.suppress(DeviceError):
        action()


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_fault_is_reported_in_bounded_time_and_recovery_clears_it(rig: Rig, case: Case) -> None:
    sim = rig.need_sim()
    events: list[tuple[str, str, bool, str | None]] = []
    monitor = FaultMonitor(rig.hardware.devices(), lambda *event: events.append(event))
    _attempt(lambda: case.operate(rig.hardware))  # healthy first (also settles the HX711)
    assert monitor.poll() == []

    sim.faults.inject(**case.fault)
    start = rig.clock.monotonic_ns()
    _attempt(lambda: case.operate(rig.hardware))
    elapsed_s = (rig.clock.monotonic_ns() - start) / 1e9
    monitor.poll()
    assert elapsed_s <= case.bound_s
    assert [(c, code, active) for c, code, active, _ in events] == [
        (case.component, case.code, True)
    ]
    assert monitor.sensors()[case.component] == case.health

    sim.faults.clear(*case.fault)
    case.operate(rig.hardware)
    monitor.poll()
    assert [(c, code, active) for c, code, active, _ in events[1:]] == [
        (case.component, case.code, False)
    ]
    assert monitor.sensors()[case.component] == "ok"


def test_jammed_flap_is_reported_and_a_clean_drop_clears_it(rig: Rig) -> None:
    sim = rig.need_sim()
    events: list[tuple[str, str, bool, str | None]] = []
    monitor = FaultMonitor(rig.hardware.devices(), lambda *event: events.append(event))
    sim.physical.door_open = True
    sim.physical.place_on_tray(Item("plastic", 30.0, 0.5))
    sim.physical.door_open = False
    sim.faults.inject(flap="jammed")
    start = rig.clock.monotonic_ns()
    with pytest.raises(DeviceError, match="jammed"):
        rig.hardware.flap.drop()
    assert (rig.clock.monotonic_ns() - start) / 1e9 <= 2.5
    monitor.poll()
    assert events[-1][:3] == ("flap", "jammed", True)
    assert monitor.sensors()["flap"] == "failed"
    assert sim.physical.tray is not None

    sim.faults.clear("flap")
    rig.hardware.flap.drop()
    monitor.poll()
    assert events[-1][:3] == ("flap", "jammed", False)
    assert sim.physical.tray is None


def test_door_left_open_degrades_after_the_alarm_time(rig: Rig) -> None:
    sim = rig.need_sim()
    events: list[tuple[str, str, bool, str | None]] = []
    monitor = FaultMonitor(rig.hardware.devices(), lambda *event: events.append(event))
    sim.faults.inject(door="left_open")
    assert rig.hardware.door.is_open()
    monitor.poll()
    assert events == []  # open, but not yet for long
    rig.clock.sleep(rig.config.thresholds.door_open_alarm_s)
    monitor.poll()
    assert events[-1][:3] == ("door", "left_open", True)
    assert monitor.sensors()["door"] == "degraded"
    sim.faults.clear("door")
    assert not rig.hardware.door.is_open()
    monitor.poll()
    assert events[-1][:3] == ("door", "left_open", False)


def test_one_pre_empted_pulse_is_discarded_and_the_reading_retried(rig: Rig) -> None:
    sim = rig.need_sim()
    rig.hardware.scale.tare()
    sim.faults.inject(gpio_stall_probability=0.002)
    sim.place_test_mass(200.0)
    grams = [rig.hardware.scale.read_g() for _ in range(6)]
    assert grams == pytest.approx([200.0] * 6, abs=3.0)
    stats = rig.hardware.scale.stats  # type: ignore[attr-defined]
    assert stats.long_pulses >= 1
    assert sim.hx711.power_downs >= 1
    assert rig.hardware.scale.status().health == "ok"


def test_fault_in_profile_is_injected_at_start() -> None:
    from tests.support.rigs import sim_config

    config = sim_config()
    config.simulation.faults.camera = "black_frame"
    made = make_sim_rig(config)
    try:
        with pytest.raises(DeviceError, match="black_frame"):
            made.hardware.camera.capture()
    finally:
        made.hardware.close()


def test_unknown_fault_is_refused_by_name(rig: Rig) -> None:
    sim = rig.need_sim()
    with pytest.raises(ValueError, match="hx711"):
        sim.faults.inject(hx711="on_fire")
    with pytest.raises(ValueError, match="unknown fault"):
        sim.faults.clear("gremlins")
    assert sim.faults.hx711 == "none"
