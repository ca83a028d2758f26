"""The ultrasonic driver against the sensor model: timing, physics and failure modes."""

from __future__ import annotations

import itertools

import pytest

from agent.hardware.devices import DeviceError
from agent.hardware.drivers.ultrasonic import echo_distance_mm, fill_percent, speed_of_sound_m_s
from firmware_config.schema import Calibration, DeviceConfig
from tests.support.rigs import Rig, make_sim_rig, sim_config


def rig_for(config: DeviceConfig | None = None, *, edge_detection: bool = True) -> Rig:
    return make_sim_rig(config or sim_config(), edge_detection=edge_detection)


def test_speed_of_sound_follows_temperature() -> None:
    assert speed_of_sound_m_s(0.0) == pytest.approx(331.3)
    assert speed_of_sound_m_s(20.0) == pytest.approx(343.2, abs=0.1)
    assert speed_of_sound_m_s(30.0) / speed_of_sound_m_s(0.0) == pytest.approx(1.054, abs=0.002)
    # 1 cm of range is about 58 us of echo at room temperature
    assert echo_distance_mm(58_000, 20.0) == pytest.approx(10.0, abs=0.1)


def test_fill_percent_spans_empty_to_full() -> None:
    calibration = Calibration(empty_distance_mm=1000.0, full_distance_mm=200.0)
    assert fill_percent(1000.0, calibration) == 0.0
    assert fill_percent(600.0, calibration) == 50.0
    assert fill_percent(100.0, calibration) == 100.0
    assert fill_percent(1100.0, calibration) == 0.0


def test_trigger_is_at_least_10_us_and_pings_at_least_60_ms_apart() -> None:
    rig = rig_for()
    sim = rig.need_sim()
    rig.hardware.fill.measure(None)
    history = sim.gpio.history(rig.config.pins.ultrasonic_trigger)
    rises = [t for t, level in history if level == 1]
    widths = [t1 - t0 for (t0, l0), (t1, _) in itertools.pairwise(history) if l0 == 1]
    assert len(rises) == rig.config.ultrasonic.pings
    assert min(widths) >= 10_000
    gaps = [b - a for a, b in itertools.pairwise(rises)]
    assert min(gaps) >= rig.config.ultrasonic.ping_interval_ms * 1_000_000
    assert sim.ultrasonic.short_triggers == 0


@pytest.mark.parametrize("air_c", [0.0, 35.0])
def test_temperature_compensation(air_c: float) -> None:
    config = sim_config(simulation__pins__ultrasonic_noise_mm=0.0)
    rig = rig_for(config)
    sim = rig.need_sim()
    sim.physical.air_temp_c = air_c
    compensated = rig.hardware.fill.measure(air_c).distance_mm
    assumed_20 = rig.hardware.fill.measure(20.0).distance_mm
    assert compensated == pytest.approx(1000.0, abs=1.0)
    assert abs(assumed_20 - 1000.0) > 15.0  # what an uncompensated sensor would get wrong


def test_wall_echoes_are_outvoted_by_the_median() -> None:
    config = sim_config(
        simulation__pins__wall_echo_mm=600.0, simulation__pins__wall_echo_probability=0.25
    )
    rig = rig_for(config)
    readings = [rig.hardware.fill.measure(18.0) for _ in range(6)]
    assert all(r.distance_mm == pytest.approx(1000.0, abs=15.0) for r in readings)
    assert rig.need_sim().ultrasonic.pings == 6 * config.ultrasonic.pings


def test_some_lost_pings_degrade_but_still_measure() -> None:
    config = sim_config(calibration__empty_distance_mm=3000.0, calibration__full_distance_mm=300.0)
    config.simulation.pins.container_depth_mm = 3000.0
    rig = rig_for(config)
    sim = rig.need_sim()
    rig.hardware.fill.measure(18.0)
    # Every other ping is lost: the sensor misses the floor, valid pings still win.
    original = sim.ultrasonic._echo_width_ns
    calls = {"n": 0}

    def flaky() -> int:
        calls["n"] += 1
        return sim.ultrasonic._no_echo() if calls["n"] % 3 == 0 else original()

    sim.ultrasonic._echo_width_ns = flaky  # type: ignore[method-assign]
    reading = rig.hardware.fill.measure(18.0)
    assert reading.valid_pings == 5
    assert reading.total_pings == 7
    status = rig.hardware.fill.status()
    assert (status.health, status.code) == ("degraded", "no_echo")
    assert "5 of 7" in (status.detail or "")


@pytest.mark.parametrize(("sensor", "pulse_ms"), [("hc-sr04", 38), ("jsn-sr04t", 60)])
def test_no_echo_behaviour_of_each_sensor(sensor: str, pulse_ms: int) -> None:
    config = sim_config(hardware__ultrasonic_model=sensor)
    rig = rig_for(config)
    sim = rig.need_sim()
    sim.faults.inject(ultrasonic="no_echo")
    with pytest.raises(DeviceError, match="no_echo"):
        rig.hardware.fill.measure(None)
    history = sim.gpio.history(config.pins.ultrasonic_echo)
    widths = [t1 - t0 for (t0, l0), (t1, _) in itertools.pairwise(history) if l0 == 1]
    assert widths
    assert all(w == pytest.approx(pulse_ms * 1_000_000, rel=0.01) for w in widths)


def test_target_out_of_the_sensor_range_reads_as_no_echo() -> None:
    config = sim_config(hardware__ultrasonic_model="hc-sr04")
    config.simulation.pins.container_depth_mm = 4500.0
    rig = rig_for(config)
    with pytest.raises(DeviceError, match="no_echo"):
        rig.hardware.fill.measure(None)


def test_polling_fallback_without_edge_detection_still_measures() -> None:
    rig = rig_for(edge_detection=False)
    reading = rig.hardware.fill.measure(18.0)
    assert reading.distance_mm == pytest.approx(1000.0, abs=10.0)
    assert reading.valid_pings == reading.total_pings


def test_a_stuck_echo_line_ends_in_bounded_time_even_when_polling() -> None:
    # A slow Pi (20 us per GPIO call) keeps the busy-wait short in wall time too.
    rig = rig_for(sim_config(simulation__pins__gpio_call_us=20.0), edge_detection=False)
    sim = rig.need_sim()
    sim.faults.inject(ultrasonic="echo_stuck")
    start = rig.clock.monotonic_ns()
    with pytest.raises(DeviceError, match="echo_stuck"):
        rig.hardware.fill.measure(None)
    elapsed_s = (rig.clock.monotonic_ns() - start) / 1e9
    pings = rig.config.ultrasonic.pings
    assert elapsed_s <= pings * 0.2  # each ping gives up after twice the no-echo pulse


def test_empty_depth_measurement_trusts_echoes_beyond_the_configured_depth() -> None:
    config = sim_config()
    config.simulation.pins.container_depth_mm = 1400.0
    rig = rig_for(config)
    with pytest.raises(DeviceError, match="out_of_range"):
        rig.hardware.fill.measure(18.0)  # 1400 mm cannot be inside a 1000 mm container
    sensor = rig.hardware.fill
    reading = sensor.measure_distance(18.0)  # type: ignore[attr-defined]
    assert reading.distance_mm == pytest.approx(1400.0, abs=10.0)
