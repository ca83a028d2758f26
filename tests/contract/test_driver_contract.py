"""The driver contract: what every backend's devices promise the agent.

Runs against the pin-level simulator always, and against the real pins on a Pi when
``REVLOOP_REAL_HARDWARE=1``. Tests that must move physical things use the simulated
world and skip on real hardware.
"""

from __future__ import annotations

import numpy as np
import pytest

from agent.hardware.devices import DeviceError, FillReading
from simulator.device.physical import Item
from tests.support.rigs import Rig

COMPONENTS = {"ultrasonic", "loadcell", "camera", "door", "flap", "storage", "network"}


def test_every_device_reports_a_contract_component_and_starts_healthy(rig: Rig) -> None:
    for device in rig.hardware.devices():
        assert device.component in COMPONENTS
        assert device.status().health in ("ok", "degraded", "failed")


def test_scale_reads_grams_within_its_timeout(rig: Rig) -> None:
    start = rig.clock.monotonic_ns()
    grams = rig.hardware.scale.read_g()
    elapsed_s = (rig.clock.monotonic_ns() - start) / 1e9
    assert isinstance(grams, float)
    settings = rig.config.loadcell
    bound = settings.samples * (1 + settings.retries) * settings.ready_timeout_ms / 1000
    assert elapsed_s <= bound
    assert rig.hardware.scale.status().health == "ok"


def test_tare_zeroes_the_scale(rig: Rig) -> None:
    offset = rig.hardware.scale.tare()
    assert isinstance(offset, int)
    assert abs(rig.hardware.scale.read_g()) < 5.0


def test_fill_measurement_counts_its_pings(rig: Rig) -> None:
    reading = rig.hardware.fill.measure(rig.hardware.temperature.read_c())
    assert isinstance(reading, FillReading)
    assert reading.total_pings == rig.config.ultrasonic.pings
    assert rig.config.ultrasonic.min_valid <= reading.valid_pings <= reading.total_pings
    assert 0.0 <= reading.fill_pct <= 100.0
    blind = rig.config.ultrasonic.blind_zone_mm
    assert blind <= reading.distance_mm <= rig.config.ultrasonic.max_range_mm


def test_switches_answer_booleans(rig: Rig) -> None:
    assert isinstance(rig.hardware.door.is_open(), bool)
    assert isinstance(rig.hardware.beam.is_broken(), bool)


def test_camera_returns_an_rgb_frame(rig: Rig) -> None:
    frame = rig.hardware.camera.capture(2.0)
    assert frame.dtype == np.uint8
    assert frame.ndim == 3
    assert frame.shape[2] == 3
    assert rig.hardware.camera.status().health == "ok"


def test_actuators_cycle(rig: Rig) -> None:
    hardware = rig.hardware
    was = hardware.lock.locked
    hardware.lock.set_locked(not was)
    assert hardware.lock.locked is (not was)
    hardware.lock.set_locked(was)
    hardware.indicators.show("amber")
    hardware.indicators.show(None)
    hardware.indicators.beep(0.05)
    hardware.flap.drop()
    assert hardware.flap.status().health == "ok"


def test_scale_follows_the_tray(rig: Rig) -> None:
    sim = rig.need_sim()
    rig.hardware.scale.tare()
    sim.physical.door_open = True
    sim.physical.place_on_tray(Item("glass", 350.0, 0.4))
    assert rig.hardware.scale.read_g() == pytest.approx(350.0, abs=3.0)
    assert rig.hardware.beam.is_broken()


def test_fill_follows_the_contents(rig: Rig) -> None:
    sim = rig.need_sim()
    sim.physical.contents_volume_l = sim.physical.container_volume_l * 0.5
    reading = rig.hardware.fill.measure(sim.physical.air_temp_c)
    calibration = rig.config.calibration
    expected_mm = sim.physical.surface_distance_mm
    assert reading.distance_mm == pytest.approx(expected_mm, abs=10.0)
    expected_pct = (
        (calibration.empty_distance_mm - expected_mm)
        / (calibration.empty_distance_mm - calibration.full_distance_mm)
        * 100
    )
    assert reading.fill_pct == pytest.approx(expected_pct, abs=2.0)


def test_door_follows_the_world(rig: Rig) -> None:
    sim = rig.need_sim()
    assert not rig.hardware.door.is_open()
    sim.physical.door_open = True
    assert rig.hardware.door.is_open()
    sim.physical.door_open = False
    assert not rig.hardware.door.is_open()


def test_flap_drops_the_item_and_lock_locks_the_door(rig: Rig) -> None:
    sim = rig.need_sim()
    sim.physical.door_open = True
    sim.physical.place_on_tray(Item("metal", 15.0, 0.3))
    sim.physical.door_open = False
    rig.hardware.flap.drop()
    assert sim.physical.tray is None
    assert [item.category for item in sim.physical.contents] == ["metal"]
    rig.hardware.lock.set_locked(True)
    assert sim.physical.door_locked


def test_a_failing_device_raises_device_error_naming_itself(rig: Rig) -> None:
    sim = rig.need_sim()
    sim.faults.inject(hx711="stuck_high")
    with pytest.raises(DeviceError) as caught:
        rig.hardware.scale.read_g()
    assert caught.value.component == "loadcell"
    assert caught.value.code == "not_ready"
